using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// The TurboJPEG 2.x API of libjpeg-turbo (turbojpeg.h). Functions return 0 on success and -1
/// on failure; <see cref="GetErrorCode"/> then says whether it was a warning (the output may be
/// usable, e.g. a truncated file padded with grey) or fatal. C <c>unsigned long</c> is 64-bit on
/// LP64 Linux, hence <see cref="nuint"/>.
/// </summary>
internal static unsafe partial class TurboJpegNative
{
    internal const int PixelFormatRgb = 0;    // TJPF_RGB
    internal const int PixelFormatCmyk = 11;  // TJPF_CMYK
    internal const int ColorspaceCmyk = 3;    // TJCS_CMYK
    internal const int ColorspaceYcck = 4;    // TJCS_YCCK
    internal const int Subsampling420 = 2;    // TJSAMP_420
    internal const int ErrorWarning = 0;      // TJERR_WARNING

    /// <summary>TJFLAG_LIMITSCANS: refuse progressive files with more than 500 scans (a CPU bomb).</summary>
    internal const int FlagLimitScans = 32768;

    /// <summary>TJFLAG_STOPONWARNING: warnings are errors here anyway, so stop at the first instead of grey-filling the rest.</summary>
    internal const int FlagStopOnWarning = 8192;

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjInitDecompress")]
    internal static partial TurboJpegHandle InitDecompress();

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjInitCompress")]
    internal static partial TurboJpegHandle InitCompress();

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjDestroy")]
    internal static partial int Destroy(IntPtr handle);

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjDecompressHeader3")]
    internal static partial int DecompressHeader3(TurboJpegHandle handle, byte* jpegBuf, nuint jpegSize,
        out int width, out int height, out int subsampling, out int colorspace);

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjDecompress2")]
    internal static partial int Decompress2(TurboJpegHandle handle, byte* jpegBuf, nuint jpegSize,
        byte* dstBuf, int width, int pitch, int height, int pixelFormat, int flags);

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjCompress2")]
    internal static partial int Compress2(TurboJpegHandle handle, byte* srcBuf, int width, int pitch, int height,
        int pixelFormat, byte** jpegBuf, nuint* jpegSize, int subsampling, int quality, int flags);

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjFree")]
    internal static partial void Free(byte* buffer);

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjGetErrorStr2")]
    internal static partial IntPtr GetErrorStr2(TurboJpegHandle handle);

    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjGetErrorCode")]
    internal static partial int GetErrorCode(TurboJpegHandle handle);

    internal static TurboJpegHandle CreateDecompressor()
    {
        NativeLibraries.EnsureRegistered();
        return Checked(InitDecompress(), "tjInitDecompress");
    }

    internal static TurboJpegHandle CreateCompressor()
    {
        NativeLibraries.EnsureRegistered();
        return Checked(InitCompress(), "tjInitCompress");
    }

    /// <summary>The handle's last error, tagged as a warning when TurboJPEG classed it so.</summary>
    internal static string LastError(TurboJpegHandle handle)
    {
        var text = Marshal.PtrToStringUTF8(GetErrorStr2(handle)) ?? "unknown error";
        return GetErrorCode(handle) == ErrorWarning ? $"{text} (libjpeg-turbo warning)" : text;
    }

    private static TurboJpegHandle Checked(TurboJpegHandle handle, string what)
    {
        if (handle.IsInvalid)
        {
            handle.Dispose();
            throw new InvalidOperationException($"{what} failed (out of memory?).");
        }
        return handle;
    }
}

/// <summary>A TurboJPEG instance (tjhandle), released with <c>tjDestroy</c>.</summary>
internal sealed class TurboJpegHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public TurboJpegHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle() => TurboJpegNative.Destroy(handle) == 0;
}
