namespace SynthVlm.Datasets;

/// <summary>What the dataset's <c>report.md</c> and completion marker say about the run that produced it.</summary>
public sealed record DatasetRunInfo
{
    /// <summary>The run id; stored in the completion marker, which makes a second write of the same run a no-op.</summary>
    public required string RunId { get; init; }

    /// <summary>When the run was created. Appears only in <c>report.md</c>, so the other files stay reproducible.</summary>
    public DateTimeOffset Created { get; init; }

    /// <summary>The λ of the weighted score (CLIPScore + λ·SSIMScore).</summary>
    public required double Lambda { get; init; }

    /// <summary>How the selection was made, in words, e.g. "top 50 of 400 by weighted score".</summary>
    public string SelectionRule { get; init; } = "";

    /// <summary>Caption curation outcomes, reason to count (e.g. "kept", "duplicate caption"), in the order given.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> CurationCounts { get; init; } = [];

    /// <summary>Remarks for the report, e.g. why the selection is empty ("the caption pool was empty").</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}
