using SynthVlm.Testing;

namespace SynthVlm.Judge.Tests;

/// <summary>What the judge tests read from a request to <see cref="FakeChatServer"/>.</summary>
internal static class JudgeRequests
{
    /// <summary>The caption embedded in the judge prompt of the first message (between the template's quotes), or empty.</summary>
    public static string Caption(this FakeChatRequest request)
    {
        const string Open = "Caption: \"";
        var prompt = request.Messages.Count == 0 ? string.Empty : request.Messages[0].Text;
        var start = prompt.IndexOf(Open, StringComparison.Ordinal) + Open.Length;
        var end = prompt.LastIndexOf("\"\n\n", StringComparison.Ordinal);
        return start >= Open.Length && end >= start ? prompt[start..end] : string.Empty;
    }
}
