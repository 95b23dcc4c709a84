namespace Pgrelay.Sinks.Configuration;

/// <summary>A bad sink or rule definition: the message is one line naming the sink or rule, printed as is (like SettingsException).</summary>
public sealed class SinkConfigurationException(string message) : Exception(message);
