namespace Pgrelay.Core.Model;

/// <summary>
/// How a column's PostgreSQL text value is rendered for clients. Values are kept in PostgreSQL's
/// own text output format (the same bytes pgoutput and text COPY produce), so only rendering to
/// JSON needs to know the type.
/// </summary>
public enum PgTypeKind : byte
{
    Text,        // text, varchar, bpchar, name, and anything unknown: rendered as a JSON string
    Boolean,     // "t"/"f"
    Integer,     // int2, int4, int8, oid
    Float,       // float4, float8: may be NaN/Infinity, which JSON cannot hold as numbers
    Numeric,     // numeric: arbitrary precision, emitted verbatim as a JSON number (NaN -> string)
    Json,        // json, jsonb: embedded as-is
    Bytea,       // "\x..." hex output: rendered as base64 in JSON
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Array,       // element kind in ColumnSchema.ElementKind
    SemicolonArray,   // an array whose elements are separated by ';' (box[]: box values hold commas); elements as Array's
    Record,      // a composite "(f1,f2,...)": an object of its fields, whose shape is in ColumnSchema.Record
}
