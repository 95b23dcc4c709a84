namespace Pgrelay.Core.Model;

/// <summary>Maps built-in PostgreSQL type OIDs (pg_type.h) to rendering kinds.</summary>
public static class PgTypes
{
    public const uint Bool = 16, Bytea = 17, Name = 19, Int8 = 20, Int2 = 21, Int4 = 23, Text = 25, Oid = 26,
        Json = 114, Float4 = 700, Float8 = 701, Money = 790, BpChar = 1042, VarChar = 1043, Date = 1082, Time = 1083,
        Timestamp = 1114, TimestampTz = 1184, Interval = 1186, TimeTz = 1266, Numeric = 1700, Uuid = 2950, Jsonb = 3802;

    public const uint Box = 603, BoxArray = 1020;

    public static PgTypeKind KindOf(uint oid) => oid switch
    {
        BoxArray => PgTypeKind.SemicolonArray,
        Bool => PgTypeKind.Boolean,
        // oid is not a number to to_json (json.c categorises int2/4/8, float4/8 and numeric only): a string, as there.
        Int2 or Int4 or Int8 => PgTypeKind.Integer,
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
        // Built-in arrays of types that render as strings, so that to_json's array of strings comes out, not the
        // array's text: money, "char", inet, cidr, macaddr(8), bit, varbit, ranges, xml, pg_lsn, geometry (box[]'s elements
        // are separated by ';', see PgTypeKind.SemicolonArray), text search, reg*, jsonpath, snapshots.
        791 => Money, 1002 => 18, 1041 => 869, 651 => 650, 1040 => 829, 775 => 774, 1561 => 1560, 1563 => 1562,
        3905 => 3904, 3907 => 3906, 3909 => 3908, 3911 => 3910, 3913 => 3912, 3927 => 3926, 143 => 142, 3221 => 3220,
        1017 => 600, 1018 => 601, 1019 => 602, 1027 => 604, 629 => 628, 719 => 718, 3643 => 3614, 3645 => 3615,
        2210 => 2205, 2211 => 2206, 1008 => 24, 4073 => 4072, 2949 => 2970, 5039 => 5038, BoxArray => Box,
        _ => 0,
    };
}
