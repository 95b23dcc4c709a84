namespace Pgrelay.Core.Model;

/// <summary>Maps built-in PostgreSQL type OIDs (pg_type.h) to rendering kinds.</summary>
public static class PgTypes
{
    public const uint Bool = 16, Bytea = 17, Name = 19, Int8 = 20, Int2 = 21, Int4 = 23, Text = 25, Oid = 26,
        Json = 114, Float4 = 700, Float8 = 701, Money = 790, BpChar = 1042, VarChar = 1043, Date = 1082, Time = 1083,
        Timestamp = 1114, TimestampTz = 1184, Interval = 1186, TimeTz = 1266, Numeric = 1700, Uuid = 2950, Jsonb = 3802;

    public static PgTypeKind KindOf(uint oid) => oid switch
    {
        Bool => PgTypeKind.Boolean,
        Int2 or Int4 or Int8 or Oid => PgTypeKind.Integer,
        Float4 or Float8 => PgTypeKind.Float,
        Numeric => PgTypeKind.Numeric,
        Json or Jsonb => PgTypeKind.Json,
        Bytea => PgTypeKind.Bytea,
        Date => PgTypeKind.Date,
        Time => PgTypeKind.Time,
        TimeTz => PgTypeKind.TimeTz,
        Timestamp => PgTypeKind.Timestamp,
        TimestampTz => PgTypeKind.TimestampTz,
        Interval => PgTypeKind.Interval,
        Uuid => PgTypeKind.Uuid,
        _ when ElementOf(oid) != 0 => PgTypeKind.Array,
        _ => PgTypeKind.Text,
    };

    /// <summary>Element type OID of a built-in array type, or 0.</summary>
    public static uint ElementOf(uint arrayOid) => arrayOid switch
    {
        1000 => Bool, 1001 => Bytea, 1003 => Name, 1016 => Int8, 1005 => Int2, 1007 => Int4, 1009 => Text,
        1028 => Oid, 199 => Json, 1021 => Float4, 1022 => Float8, 1014 => BpChar, 1015 => VarChar, 1182 => Date,
        1183 => Time, 1115 => Timestamp, 1185 => TimestampTz, 1187 => Interval, 1270 => TimeTz, 1231 => Numeric,
        2951 => Uuid, 3807 => Jsonb,
        _ => 0,
    };
}
