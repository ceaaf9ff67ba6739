using System.Reflection;
using System.Runtime.InteropServices;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// Maps the logical library names used by the bindings to the system's versioned sonames:
/// the unversioned <c>libpng16.so</c> etc. exist only with the -dev packages, and an ABI
/// change would come with a new soname, which should fail here rather than misbehave.
/// </summary>
internal static class NativeLibraries
{
    internal const string Png = "synthvlm-png16";
    internal const string TurboJpeg = "synthvlm-turbojpeg";
    internal const string WebP = "synthvlm-webp";

    private static readonly Dictionary<string, (string[] Candidates, string Package)> Known = new(StringComparer.Ordinal)
    {
        [Png] = (["libpng16.so.16", "libpng16.so"], "libpng16-16"),
        [TurboJpeg] = (["libturbojpeg.so.0", "libturbojpeg.so"], "libturbojpeg0"),
        [WebP] = (["libwebp.so.7", "libwebp.so"], "libwebp7"),
    };

    private static readonly Lock Gate = new();
    private static bool _registered;

    /// <summary>Installs the resolver for this assembly once; every binding calls it before its first native call.</summary>
    internal static void EnsureRegistered()
    {
        if (Volatile.Read(ref _registered))
        {
            return;
        }
        lock (Gate)
        {
            if (!_registered)
            {
                NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
                Volatile.Write(ref _registered, true);
            }
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!Known.TryGetValue(name, out var lib))
        {
            return IntPtr.Zero;
        }
        foreach (var candidate in lib.Candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
            {
                return handle;
            }
        }
        throw new DllNotFoundException(MissingMessage(name));
    }

    /// <summary>The one line a missing library produces: the soname, and how to install it.</summary>
    internal static string MissingMessage(string name)
    {
        var lib = Known[name];
        return $"{lib.Candidates[0]} could not be loaded: install it with `bash eng/provision.sh` (Debian package {lib.Package}).";
    }
}
