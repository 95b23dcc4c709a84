namespace Pgrelay.Http.Tests.Browser;

/// <summary>A fact that needs headless Chromium: skipped, saying why, on a machine without it (CI installs it).</summary>
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.Executable is null)
            Skip = $"Chromium is not installed ({HeadlessChromium.DefaultExecutable}; apt-get install chromium, or set PGRELAY_CHROMIUM)";
    }
}
