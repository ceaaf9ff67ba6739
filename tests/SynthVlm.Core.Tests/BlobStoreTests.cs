using SynthVlm.Blobs;

namespace SynthVlm.Core.Tests;

public class BlobStoreTests
{
    [Theory]
    [InlineData("runs/r1/images/c1/0.png")]
    [InlineData("a")]
    [InlineData("x_y-z.1/2")]
    public void Valid_keys_pass(string key) => BlobKey.IsValid(key).Should().BeTrue();

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("runs/../../etc/passwd", "'..'")]
    [InlineData("runs/./x", "'.'")]
    [InlineData("runs//x", "empty segment")]
    [InlineData("runs/.hidden", "starts with '.'")]
    [InlineData("runs/a b", "only letters")]
    [InlineData("runs\\..\\x", "only letters")]
    [InlineData("runs/x\0y", "only letters")]
    public void Unsafe_keys_are_refused_with_the_reason(string key, string reason)
    {
        var act = () => BlobKey.Check(key);
        act.Should().Throw<ArgumentException>().Where(e => e.Message.Contains(reason, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("caption with spaces and ünïcödé")]
    [InlineData(".bashrc")]
    public void Segments_from_data_are_always_safe_and_distinct(string id)
    {
        var segment = BlobKey.Segment(id);
        BlobKey.IsValid(segment).Should().BeTrue();
        segment.Should().NotContain("/").And.NotBe("..").And.NotBe(".");
        BlobKey.Segment(id + "x").Should().NotBe(segment);
    }

    [Fact]
    public void Safe_ids_are_kept_as_they_are() => BlobKey.Segment("cap-000123_a.b").Should().Be("cap-000123_a.b");

    [Fact]
    public void Generated_image_key_cannot_escape_the_root()
    {
        var key = BlobKey.GeneratedImage("../run", "../../etc/passwd", 2);
        key.Should().StartWith("runs/").And.EndWith("/2.png");
        var store = new FileBlobStore("/tmp/store-root");
        Path.GetFullPath(store.PathOf(key)).Should().StartWith("/tmp/store-root/");
    }

    [Fact]
    public async Task Write_is_atomic_and_overwrites_and_leaves_no_temporary_files()
    {
        var root = Directory.CreateTempSubdirectory("blobs-");
        try
        {
            var store = new FileBlobStore(root.FullName);
            await store.WriteAsync("runs/r/images/c/0.png", new byte[] { 1, 2, 3 });
            await store.WriteAsync("runs/r/images/c/0.png", new byte[] { 4, 5 });
            (await store.ReadAsync("runs/r/images/c/0.png")).Should().Equal(4, 5);
            store.Exists("runs/r/images/c/1.png").Should().BeFalse();
            Directory.GetFiles(root.FullName, "*", SearchOption.AllDirectories).Should().ContainSingle();
            var missing = () => store.ReadAsync("runs/r/images/c/1.png");
            await missing.Should().ThrowAsync<FileNotFoundException>();
        }
        finally
        {
            root.Delete(true);
        }
    }
}

public class AtomicDirectoryTests
{
    [Fact]
    public void Writes_once_replaces_incomplete_leftovers_and_leaves_no_staging()
    {
        var root = Directory.CreateTempSubdirectory("atomic-");
        try
        {
            var target = Path.Combine(root.FullName, "model");
            Directory.CreateDirectory(target);
            File.WriteAllText(Path.Combine(target, "half"), "left by a crash");
            var writes = 0;
            void Write(string dir)
            {
                writes++;
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "done"), "ok");
            }
            static bool Complete(string dir) => File.Exists(Path.Combine(dir, "done"));

            SynthVlm.IO.AtomicDirectory.Ensure(target, Write, Complete).Should().Be(target);
            SynthVlm.IO.AtomicDirectory.Ensure(target, Write, Complete);
            writes.Should().Be(1);
            Directory.GetFiles(target).Select(Path.GetFileName).Should().Equal("done");
            Directory.GetDirectories(root.FullName).Should().ContainSingle();
        }
        finally
        {
            root.Delete(true);
        }
    }

    [Fact]
    public void A_failed_write_leaves_nothing_behind()
    {
        var root = Directory.CreateTempSubdirectory("atomic-");
        try
        {
            var target = Path.Combine(root.FullName, "model");
            var act = () => SynthVlm.IO.AtomicDirectory.Ensure(target, dir =>
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "partial"), "x");
                throw new IOException("disk full");
            }, dir => File.Exists(Path.Combine(dir, "done")));
            act.Should().Throw<IOException>().WithMessage("disk full");
            Directory.GetFileSystemEntries(root.FullName).Should().BeEmpty();
        }
        finally
        {
            root.Delete(true);
        }
    }
}
