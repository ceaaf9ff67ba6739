using System.Globalization;

namespace SynthVlm.AppHost;

/// <summary>
/// The AppHost's own terminal output: "[apphost]" messages, and a block of lines kept at the
/// bottom and redrawn in place (the run verb's progress bars) with messages printed above it.
/// Service output is not echoed here: it is in the Aspire dashboard's console logs and in
/// {data-dir}/logs/{replica}.log.
/// </summary>
internal sealed class ClusterConsole
{
    private const string CursorUp = "\e[{0}A";
    private const string ClearToEnd = "\e[J";

    private readonly Lock _console = new();
    private IReadOnlyList<string> _frame = [];

    /// <summary>Whether the screen can be redrawn in place (a terminal, not a file, pipe or dumb terminal).</summary>
    public static bool IsInteractive { get; } =
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");

    /// <summary>Draws <paramref name="lines"/> at the bottom of the terminal in place of the previous frame.</summary>
    public void DrawFrame(IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        lock (_console)
        {
            Erase();
            _frame = lines;
            Redraw();
        }
    }

    /// <summary>Leaves the current frame on the screen as ordinary output.</summary>
    public void EndFrame()
    {
        lock (_console)
        {
            _frame = [];
        }
    }

    /// <summary>Writes a line of plain output (above the frame, if one is drawn).</summary>
    public void WriteLine(string line)
    {
        lock (_console)
        {
            Above(() => Console.WriteLine(line));
        }
    }

    public void Info(string message) => Write("apphost", message, ConsoleColor.White);

    public void Warn(string message) => Write("apphost", message, ConsoleColor.Yellow);

    public void Error(string message) => Write("apphost", message, ConsoleColor.Red);

    private void Write(string source, string message, ConsoleColor color)
    {
        lock (_console)
        {
            Above(() =>
            {
                Console.ForegroundColor = color;
                Console.WriteLine($"[{source}] {message}");
                Console.ResetColor();
            });
        }
    }

    // Callers hold _console.
    private void Above(Action write)
    {
        Erase();
        write();
        Redraw();
    }

    private void Erase()
    {
        if (_frame.Count > 0)
        {
            Console.Write(string.Format(CultureInfo.InvariantCulture, CursorUp, _frame.Count) + "\r" + ClearToEnd);
        }
    }

    private void Redraw()
    {
        foreach (var line in _frame)
        {
            Console.WriteLine(line);
        }
    }
}
