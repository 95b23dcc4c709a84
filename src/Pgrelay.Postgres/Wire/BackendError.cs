using System.Text;
using Npgsql;

namespace Pgrelay.Postgres.Wire;

/// <summary>
/// An ErrorResponse (or NoticeResponse) body, turned into the same <see cref="PostgresException"/> Npgsql would throw,
/// so callers classify and describe a server error the same way whichever path read it.
/// </summary>
internal static class BackendError
{
    /// <summary>Parses the fields (a type byte and a NUL-terminated string each, then a NUL).</summary>
    public static PostgresException Parse(ReadOnlySpan<byte> body)
    {
        string? severity = null, invariantSeverity = null, code = null, message = null, detail = null, hint = null, where = null,
            schema = null, table = null, column = null, dataType = null, constraint = null, file = null, line = null, routine = null,
            internalQuery = null;
        int position = 0, internalPosition = 0;
        while (body.Length > 0 && body[0] != 0)
        {
            byte field = body[0];
            int end = body[1..].IndexOf((byte)0);
            if (end < 0) break;   // truncated: keep what was read
            var value = Encoding.UTF8.GetString(body.Slice(1, end));
            body = body[(end + 2)..];
            switch ((char)field)
            {
                case 'S': severity = value; break;
                case 'V': invariantSeverity = value; break;
                case 'C': code = value; break;
                case 'M': message = value; break;
                case 'D': detail = value; break;
                case 'H': hint = value; break;
                case 'P': int.TryParse(value, out position); break;
                case 'p': int.TryParse(value, out internalPosition); break;
                case 'q': internalQuery = value; break;
                case 'W': where = value; break;
                case 's': schema = value; break;
                case 't': table = value; break;
                case 'c': column = value; break;
                case 'd': dataType = value; break;
                case 'n': constraint = value; break;
                case 'F': file = value; break;
                case 'L': line = value; break;
                case 'R': routine = value; break;
            }
        }
        return new PostgresException(message ?? "(the server sent no message)", severity ?? invariantSeverity ?? "ERROR",
            invariantSeverity ?? severity ?? "ERROR", code ?? "XX000", detail, hint, position, internalPosition, internalQuery, where,
            schema, table, column, dataType, constraint, file, line, routine);
    }
}
