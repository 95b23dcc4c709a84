using System.Text;
using Npgsql;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// After ALTER TABLE ADD COLUMN with a constant default, PostgreSQL does not rewrite existing rows: they get the
/// value from pg_attribute.attmissingval. The target's existing rows need it too, so a Relation change carries
/// a row (in the new schema) with those values for added columns, read on a side connection.
/// </summary>
internal sealed class MissingValueLookup : IAsyncDisposable
{
    private readonly SourceOptions _source;
    private NpgsqlConnection? _conn;

    public MissingValueLookup(SourceOptions source) => _source = source;

    /// <summary>A row of <paramref name="schema"/>: the missing value for columns not in <paramref name="previous"/>, NULL otherwise.</summary>
    public async Task<byte[]> BuildRowAsync(TableSchema schema, TableSchema? previous, CancellationToken ct)
    {
        var added = schema.Columns.Where(c => previous is null || previous.ColumnIndex(c.Name) < 0).Select(c => c.Name).ToArray();
        var values = new Dictionary<string, string?>();
        if (added.Length > 0 && previous is not null)
        {
            try
            {
                var conn = await ConnectionAsync(ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("""
                    SELECT attname, attmissingval::text FROM pg_attribute
                    WHERE attrelid = @oid AND attname = ANY(@names) AND atthasmissing AND NOT attisdropped
                    """, conn);
                cmd.Parameters.AddWithValue("oid", NpgsqlTypes.NpgsqlDbType.Oid, schema.RelationId);
                cmd.Parameters.AddWithValue("names", added);
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    values[r.GetString(0)] = r.IsDBNull(1) ? null : SingleElement(r.GetString(1));
            }
            catch (NpgsqlException)
            {
                // Without the lookup the added columns read as NULL in old rows until they are next updated.
                await DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        var builder = new RowBuilder();
        foreach (var c in schema.Columns) builder.AddText(values.GetValueOrDefault(c.Name));
        return builder.Build();
    }

    /// <summary>The one element of an array literal like <c>{42}</c> or <c>{"a b"}</c>; null for <c>{NULL}</c>.</summary>
    public static string? SingleElement(string literal)
    {
        var s = literal.AsSpan().Trim();
        if (s.Length < 2 || s[0] != '{' || s[^1] != '}') return literal;
        s = s[1..^1];
        if (s.Length > 0 && s[0] == '"')
        {
            var sb = new StringBuilder(s.Length);
            for (int i = 1; i < s.Length - 1; i++)
            {
                if (s[i] == '\\' && i + 1 < s.Length - 1) i++;
                sb.Append(s[i]);
            }
            return sb.ToString();
        }
        return s.Equals("NULL", StringComparison.OrdinalIgnoreCase) ? null : s.ToString();
    }

    private async Task<NpgsqlConnection> ConnectionAsync(CancellationToken ct)
    {
        if (_conn is { State: System.Data.ConnectionState.Open }) return _conn;
        if (_conn is not null) await _conn.DisposeAsync().ConfigureAwait(false);
        _conn = new NpgsqlConnection(_source.ConnectionString("pgrelay-catalog"));
        await _conn.OpenAsync(ct).ConfigureAwait(false);
        return _conn;
    }

    public async ValueTask DisposeAsync()
    {
        if (_conn is not null) await _conn.DisposeAsync().ConfigureAwait(false);
        _conn = null;
    }
}
