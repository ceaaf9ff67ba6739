using SynthVlm.IO;

namespace SynthVlm.Core.Tests;

public sealed class DirectorySyncTests
{
    [Fact]
    public void Flushing_an_existing_directory_succeeds()
    {
        var dir = Directory.CreateTempSubdirectory("synthvlm-dirsync-").FullName;
        try
        {
            DirectorySync.Flush(dir);
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    [Fact]
    public void Flushing_a_missing_directory_names_it_and_the_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), "synthvlm-no-such-dir-" + Guid.NewGuid().ToString("N"));
        FluentActions.Invoking(() => DirectorySync.Flush(missing)).Should().Throw<IOException>()
            .WithMessage($"open('{missing}') failed:*errno 2)*");
    }

    [Fact]
    public void Flushing_a_regular_file_as_a_directory_is_refused()
    {
        var file = Path.GetTempFileName();
        try
        {
            FluentActions.Invoking(() => DirectorySync.Flush(file)).Should().Throw<IOException>().WithMessage("*errno 20)*"); // ENOTDIR
        }
        finally
        {
            File.Delete(file);
        }
    }
}
