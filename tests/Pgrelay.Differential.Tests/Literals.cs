using System.Globalization;
using System.Text;

namespace Pgrelay.Differential.Tests;

/// <summary>
/// SQL literals for random values of each type, chosen for the edges renderers get wrong: NULL, empty, quotes and
/// backslashes, control characters, non-ASCII, NaN and infinities, extreme numbers, multi-dimensional arrays with NULL
/// elements, the text "NULL", microseconds, BC dates, values big enough to be TOASTed out of line.
/// </summary>
public sealed class Literals(Random rng, bool slashKeys, bool bcDates)
{
    private static readonly string[] TextAtoms =
    [
        "a", "Z", "0", " ", "  ", "'", "''", "\"", "\\", "\\\\", "\t", "\n", "\r\n", "é", "ß", "€", "日本", "😀", ",", "{", "}", "(", ")",
        "NULL", "null", "/", "%", "%2F", "*", "?", "[", "]", ":", ".", "-", "=", "\u00a0", "\u0001",
    ];

    private static readonly string[] Jsons =
    [
        "{}", "[]", "null", "true", "false", "0", "-1.50", "1e3", "123456789012345678901234567890.123", "\"\"", "\"a\\\"b\\\\c\\n\"",
        "{\"a\": 1, \"b\": [1, 2.0, {\"c\": null}], \"ü\": \"é\"}", "[1, \"two\", [3], {\"four\": false}]", "\"\\u00e9\\t\"",
        "{\"nested\": {\"deeper\": {\"deepest\": [[], {}]}}}", "{\"k\": \"/\\/\"}",
    ];

    public string For(ColumnType type, double nullChance = 0.15)
    {
        if (rng.NextDouble() < nullChance) return "NULL";
        return type switch
        {
            ColumnType.Int4 => Pick("0", "1", "-1", "2147483647", "-2147483648", rng.Next(-100000, 100000).ToString(CultureInfo.InvariantCulture)),
            ColumnType.Int8 => Quote(Pick("9223372036854775807", "-9223372036854775808", "0", rng.NextInt64(-1L << 50, 1L << 50).ToString(CultureInfo.InvariantCulture))) + "::int8",
            ColumnType.Numeric => Quote(Pick("0", "-0.000001", "123.4500", "1e20", "NaN", "Infinity", "-Infinity", "0.1",
                "12345678901234567890.123456789", "-99999999999999999999999999999.999999999999", Decimal(rng))) + "::numeric",
            ColumnType.Numeric12_2 => Quote(Pick("0", "0.01", "-0.50", "9999999999.99", "NaN", Decimal(rng, 8, 2))) + "::numeric(12,2)",
            ColumnType.Float8 => Quote(Pick("0", "-0", "0.1", "1e-300", "1.7976931348623157e308", "5e-324", "NaN", "Infinity", "-Infinity",
                (rng.NextDouble() * Math.Pow(10, rng.Next(-20, 20))).ToString("R", CultureInfo.InvariantCulture))) + "::float8",
            ColumnType.Text => Quote(RandomText(rng.Next(0, 24))),
            ColumnType.Toasted => Quote(Incompressible(rng.Next(3000, 9000))),
            ColumnType.Bool => Pick("true", "false"),
            ColumnType.Jsonb => Quote(Pick(Jsons)) + "::jsonb",
            ColumnType.Int4Array => Quote(Pick("{}", "{1,NULL,3}", "{{1,2},{3,4}}", "{-2147483648}", "{NULL}",
                "{" + string.Join(",", Enumerable.Range(0, rng.Next(1, 6)).Select(_ => rng.Next(-50, 50))) + "}")) + "::int4[]",
            ColumnType.TextArray => "ARRAY[" + string.Join(",", Enumerable.Range(0, rng.Next(0, 5))
                .Select(_ => rng.Next(6) == 0 ? "NULL" : Quote(Pick("NULL", "", "a,b", "c\"d", "{x}", "\\", " sp ", "é", RandomText(rng.Next(0, 8)))))) + "]::text[]",
            ColumnType.Timestamptz => Quote(Pick("infinity", "-infinity", "2024-06-01 12:34:56.123456+02", "1999-12-31 23:59:59.999999+00",
                bcDates ? "0044-03-15 12:00:00+00 BC" : "0044-03-15 12:00:00+00", "2000-01-01 00:00:00+14",
                DateTimeOffset.FromUnixTimeMilliseconds(rng.NextInt64(0, 4_000_000_000_000)).AddTicks(rng.Next(0, 10000)).ToString("yyyy-MM-dd HH:mm:ss.ffffffzzz", CultureInfo.InvariantCulture))) + "::timestamptz",
            ColumnType.Date => Quote(Pick("infinity", "-infinity", "2024-02-29", bcDates ? "0001-01-01 BC" : "0001-01-01", "1970-01-01",
                new DateOnly(2000, 1, 1).AddDays(rng.Next(-40000, 40000)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))) + "::date",
            ColumnType.Bytea => Quote("\\x" + Convert.ToHexString(RandomBytes(rng.Next(0, 40))).ToLowerInvariant()) + "::bytea",
            ColumnType.Uuid => Quote(new Guid(RandomBytes(16)).ToString()) + "::uuid",
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    /// <summary>An int key from a small space, so updates and deletes usually find a row.</summary>
    public int IntKey() => rng.Next(1, 300);

    /// <summary>A text key from a pool: non-ASCII, quotes, spaces; with the slash switch also '/' and '\' and '%'.</summary>
    public string TextKey()
    {
        int n = rng.Next(0, 150);
        var plain = (n % 5) switch { 0 => $"k{n:000}", 1 => $"ключ-{n}", 2 => $"a b {n}", 3 => $"o'{n}", _ => $"é{n}€" };
        if (!slashKeys || rng.Next(3) != 0) return plain;
        return (n % 4) switch { 0 => $"a/{n}", 1 => $"{n}/", 2 => $"b\\{n}", _ => $"%2F{n}%" };
    }

    /// <summary>
    /// A composite key's two parts. With the slash switch the pools hold ("x/y", "z") and ("x", "y/z"), which join to the
    /// same "x/y/z" when '/' is not escaped.
    /// </summary>
    public (string Region, string Code) CompositeKey()
    {
        if (slashKeys && rng.Next(3) == 0)
            return rng.Next(2) == 0 ? ("x/y", "z" + rng.Next(0, 5)) : ("x", "y/z" + rng.Next(0, 5));
        return (Pick("eu", "us", "apac", "é", "x"), rng.Next(0, 60).ToString(CultureInfo.InvariantCulture));
    }

    public string Pick(params string[] options) => options[rng.Next(options.Length)];

    public static string Quote(string text) => "'" + text.Replace("'", "''") + "'";

    private string RandomText(int atoms)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < atoms; i++) sb.Append(rng.Next(3) == 0 ? TextAtoms[rng.Next(TextAtoms.Length)] : ((char)rng.Next('a', 'z' + 1)).ToString());
        return sb.ToString();
    }

    private string Incompressible(int length)
    {
        var sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) sb.Append((char)rng.Next(33, 127));
        return sb.ToString();
    }

    private byte[] RandomBytes(int n)
    {
        var bytes = new byte[n];
        rng.NextBytes(bytes);
        return bytes;
    }

    private static string Decimal(Random rng, int integerDigits = 15, int scale = -1)
    {
        var digits = rng.NextInt64(0, (long)Math.Pow(10, Math.Min(integerDigits, 18))).ToString(CultureInfo.InvariantCulture);
        int s = scale >= 0 ? scale : rng.Next(0, 10);
        var fraction = s == 0 ? "" : "." + string.Concat(Enumerable.Range(0, s).Select(_ => (char)('0' + rng.Next(10))));
        return (rng.Next(2) == 0 ? "-" : "") + digits + fraction;
    }
}
