using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Rules;

/// <summary>
/// The rules one sink applies, compiled. For each source table and operation the applicable rules are found once
/// (<see cref="PlanFor"/>): their filters all must hold (any rule whose filter fails drops the event), then their
/// transforms run in order, then routing renames the table and columns. Columns in rules always use source names.
/// One per sink runner; <see cref="PlanFor"/> may be called from its target too (<see cref="ChangeEvent.Current"/>), so
/// finding a plan takes a lock.
/// </summary>
public sealed class RuleSet
{
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(1);
    private readonly CompiledRule[] _rules;
    private readonly Dictionary<(TableSchema, EventOp), TablePlan> _plans = new();

    private RuleSet(CompiledRule[] rules) => _rules = rules;

    /// <summary>The rules that apply to <paramref name="sinkName"/> (rules without a "sinks" list apply to all).</summary>
    public static RuleSet For(string sinkName, IEnumerable<RuleDefinition> rules) =>
        new(rules.Where(r => r.Sinks.Count == 0 || r.Sinks.Contains(sinkName)).Select(Compile).ToArray());

    /// <summary>Compiles every rule once so a bad pattern stops start-up with the rule's name.</summary>
    public static void Validate(IEnumerable<RuleDefinition> rules)
    {
        foreach (var rule in rules) Compile(rule);
    }

    public TablePlan PlanFor(TableSchema schema, EventOp op)
    {
        lock (_plans) return PlanForLocked(schema, op);
    }

    private TablePlan PlanForLocked(TableSchema schema, EventOp op)
    {
        if (_plans.TryGetValue((schema, op), out var plan)) return plan;
        var applicable = _rules.Where(r => r.Covers(schema, op)).ToArray();
        plan = new TablePlan(schema, applicable);
        // Operations whose rules give the same layout share one SinkTable, so targets see one table, not one per operation.
        foreach (var other in _plans.Values)
            if (ReferenceEquals(other.Table.SourceSchema, schema) && other.Table.SameLayout(plan.Table))
            {
                plan.Table = other.Table;
                break;
            }
        _plans[(schema, op)] = plan;
        return plan;
    }

    private static CompiledRule Compile(RuleDefinition rule)
    {
        var where = $"rule '{rule.Name}'";
        Regex table;
        try
        {
            var pattern = rule.Table.Contains('.') ? rule.Table : "public." + rule.Table;
            table = new Regex("^" + Regex.Escape(pattern).Replace("\\*", ".*") + "$", RegexOptions.CultureInvariant);
        }
        catch (ArgumentException) { throw new SinkConfigurationException($"{where}: table '{rule.Table}' is not a valid name or pattern"); }
        var conditions = rule.Filter.Select(c => new Condition(c, c.Op == ConditionOp.Regex ? MakeRegex(c.Values[0]!, where, c.Column) : null)).ToArray();
        var transforms = rule.Transform
            .Select(t => new Transform(t, t.Type == TransformType.RegexReplace ? MakeRegex(t.Pattern!, where, t.Column) : null)).ToArray();
        if (rule.Route is { } route)
        {
            if (route.Table is { Length: 0 } || route.Schema is { Length: 0 })
                throw new SinkConfigurationException($"{where}: route names an empty schema or table");
            var targets = route.Columns.Values.ToList();
            if (targets.Distinct().Count() != targets.Count) throw new SinkConfigurationException($"{where}: route.columns maps two columns to the same name");
        }
        return new CompiledRule(rule, table, conditions, transforms);
    }

    private static Regex MakeRegex(string pattern, string where, string column)
    {
        try { return new Regex(pattern, RegexOptions.CultureInvariant, RegexTimeout); }
        catch (ArgumentException e) { throw new SinkConfigurationException($"{where}: pattern for '{column}' is not a valid regular expression ({e.Message.Split('\n')[0]})"); }
    }

    internal sealed record CompiledRule(RuleDefinition Definition, Regex Table, Condition[] Conditions, Transform[] Transforms)
    {
        public bool Covers(TableSchema schema, EventOp op) =>
            Table.IsMatch(schema.SchemaName + "." + schema.TableName) &&
            (Definition.Ops.Count == 0 || op is EventOp.Begin or EventOp.Commit || Definition.Ops.Contains((char)(byte)op));
    }

    internal sealed record Transform(TransformDefinition Definition, Regex? Regex)
    {
        public string Apply(string value) => Definition.Type switch
        {
            TransformType.RegexReplace => Regex!.Replace(value, Definition.Replacement ?? ""),
            TransformType.Hash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value))),
            TransformType.Mask => Mask(value),
            _ => value,
        };

        private string Mask(string value)
        {
            var runes = value.EnumerateRunes().ToArray();
            int first = Definition.KeepFirst, last = Definition.KeepLast;
            if (runes.Length <= first + last) return new string(Definition.MaskChar, runes.Length);   // never reveal the whole value
            var sb = new StringBuilder(value.Length);
            for (int i = 0; i < runes.Length; i++)
            {
                if (i < first || i >= runes.Length - last) sb.Append(runes[i].ToString());
                else sb.Append(Definition.MaskChar);
            }
            return sb.ToString();
        }
    }

    internal sealed class Condition(ConditionDefinition definition, Regex? regex)
    {
        private readonly decimal?[] _numbers = definition.Values.Select(v =>
            decimal.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : (decimal?)null).ToArray();

        public ConditionDefinition Definition { get; } = definition;

        /// <summary>Evaluates on one source value; <paramref name="kind"/> decides between numeric and text comparison.</summary>
        public bool Holds(ColumnState state, ReadOnlySpan<byte> value, PgTypeKind kind)
        {
            var op = Definition.Op;
            if (state == ColumnState.Unchanged) return true;   // not sent (replayed images): do not drop what might match
            if (state == ColumnState.Null) return op == ConditionOp.IsNull;
            if (op == ConditionOp.IsNull) return false;
            if (op == ConditionOp.NotNull) return true;
            var text = Encoding.UTF8.GetString(value);
            bool numeric = kind is PgTypeKind.Integer or PgTypeKind.Float or PgTypeKind.Numeric &&
                decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
            switch (op)
            {
                case ConditionOp.Contains: return text.Contains(Definition.Values[0]!, StringComparison.Ordinal);
                case ConditionOp.Regex: return regex!.IsMatch(text);
                case ConditionOp.In:
                    for (int i = 0; i < _numbers.Length; i++)
                        if (Compare(text, i, numeric) == 0) return true;
                    return false;
                default:
                    int? c = Compare(text, 0, numeric);
                    return c is { } r && op switch
                    {
                        ConditionOp.Eq => r == 0,
                        ConditionOp.Ne => r != 0,
                        ConditionOp.Gt => r > 0,
                        ConditionOp.Gte => r >= 0,
                        ConditionOp.Lt => r < 0,
                        _ => r <= 0,
                    };
            }
        }

        private int? Compare(string text, int i, bool numeric)
        {
            var expected = Definition.Values[i];
            if (expected is null) return null;
            if (numeric && _numbers[i] is { } number)
            {
                var actual = decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
                return actual.CompareTo(number);
            }
            return string.CompareOrdinal(text, expected);
        }
    }
}

/// <summary>What the rules do to one source table for one operation: filters, the sink's table layout, per-column transforms.</summary>
public sealed class TablePlan
{
    private readonly (int Column, RuleSet.Condition Condition)[] _conditions;
    private readonly RuleSet.Transform[][] _transforms;   // per layout column

    internal TablePlan(TableSchema schema, RuleSet.CompiledRule[] rules)
    {
        _conditions = rules.SelectMany(r => r.Conditions).Select(c => (schema.ColumnIndex(c.Definition.Column), c)).ToArray();
        var dropped = new HashSet<string>();
        var transforms = new Dictionary<string, List<RuleSet.Transform>>();
        string schemaName = schema.SchemaName, tableName = schema.TableName;
        var renames = new Dictionary<string, string>();
        foreach (var rule in rules)
        {
            foreach (var t in rule.Transforms)
            {
                if (t.Definition.Type == TransformType.Drop) dropped.Add(t.Definition.Column);
                else (transforms.TryGetValue(t.Definition.Column, out var list) ? list : transforms[t.Definition.Column] = []).Add(t);
            }
            if (rule.Definition.Route is { } route)
            {
                schemaName = route.Schema ?? schemaName;
                tableName = route.Table ?? tableName;
                foreach (var (from, to) in route.Columns) renames[from] = to;
            }
        }
        var columns = new List<SinkColumn>();
        var perColumn = new List<RuleSet.Transform[]>();
        for (int i = 0; i < schema.Columns.Count; i++)
        {
            var c = schema.Columns[i];
            if (dropped.Contains(c.Name)) continue;
            var name = renames.GetValueOrDefault(c.Name, c.Name);
            var ts = transforms.TryGetValue(c.Name, out var list) ? list.ToArray() : [];
            // A transformed value is text whatever the source type: a masked number is not a number any more.
            columns.Add(ts.Length == 0
                ? new SinkColumn(name, c.TypeOid, c.TypeModifier, c.Kind, c.ElementKind, c.IsKey, i) { Record = c.Record }
                : new SinkColumn(name, PgTypes.Text, -1, PgTypeKind.Text, PgTypeKind.Text, c.IsKey, i));
            perColumn.Add(ts);
        }
        if (columns.Select(c => c.Name).Distinct().Count() != columns.Count)
            throw new SinkConfigurationException($"rules route two columns of {schema} to the same name ({string.Join(", ", columns.Select(c => c.Name))})");
        _transforms = perColumn.ToArray();
        Table = new SinkTable(schema, schemaName, tableName, columns);
        HasTransforms = _transforms.Any(t => t.Length > 0);
    }

    public SinkTable Table { get; internal set; }
    public bool HasTransforms { get; }

    /// <summary>
    /// True when every filter of the applicable rules holds for this source row (a missing column counts as NULL). A value
    /// the row does not know (unchanged TOAST, or with <paramref name="nullIsUnknown"/> a NULL of a key-only old row)
    /// holds: a filter must not drop what might match.
    /// </summary>
    public bool Passes(RowView row, TableSchema schema, bool nullIsUnknown = false)
    {
        foreach (var (column, condition) in _conditions)
        {
            if (column < 0 || column >= row.ColumnCount)
            {
                if (!condition.Holds(ColumnState.Null, default, PgTypeKind.Text)) return false;
                continue;
            }
            var state = row.State(column);
            if (nullIsUnknown && state == ColumnState.Null) state = ColumnState.Unchanged;
            if (!condition.Holds(state, row.Value(column), schema.Columns[column].Kind)) return false;
        }
        return true;
    }

    /// <summary>The sink's image of a source row: the layout's columns, transformed.</summary>
    public SinkValue[] Project(byte[] row) => Project(new RowView(row));

    public SinkValue[] Project(RowView view)
    {
        var columns = Table.Columns;
        var values = new SinkValue[columns.Count];
        int present = view.ColumnCount;
        for (int i = 0; i < values.Length; i++)
        {
            int source = columns[i].Source;
            if (source >= present) { values[i] = SinkValue.Null; continue; }
            var state = view.State(source);
            if (state != ColumnState.Value) { values[i] = state == ColumnState.Null ? SinkValue.Null : SinkValue.Unknown; continue; }
            var span = view.Value(source);
            var transforms = _transforms[i];
            if (transforms.Length == 0)
            {
                int offset = span.IsEmpty ? 0 : (int)System.Runtime.CompilerServices.Unsafe.ByteOffset(
                    ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(view.Buffer),
                    ref System.Runtime.InteropServices.MemoryMarshal.GetReference(span));
                values[i] = new SinkValue(ColumnState.Value, new ReadOnlyMemory<byte>(view.Buffer, offset, span.Length));
                continue;
            }
            var text = Encoding.UTF8.GetString(span);
            foreach (var t in transforms) text = t.Apply(text);
            values[i] = new SinkValue(ColumnState.Value, Encoding.UTF8.GetBytes(text));
        }
        return values;
    }
}
