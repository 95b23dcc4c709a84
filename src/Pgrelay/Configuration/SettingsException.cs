namespace Pgrelay.Configuration;

/// <summary>A bad setting: its message is one line that names the setting, printed as is.</summary>
public sealed class SettingsException(string message) : Exception(message);
