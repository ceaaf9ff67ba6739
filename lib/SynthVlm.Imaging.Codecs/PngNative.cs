using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// libpng 1.6's simplified read API (<c>png_image_*</c>). It runs libpng's setjmp/longjmp error
/// handling entirely inside native frames, which is why it is safe to call from C# where the
/// classic API is not. Every call returns non-zero on success; on failure the
/// <c>png_image</c> carries the message.
/// </summary>
internal static unsafe partial class PngNative
{
    internal const uint ImageVersion = 1;          // PNG_IMAGE_VERSION
    internal const uint FormatFlagAlpha = 0x01;    // PNG_FORMAT_FLAG_ALPHA
    internal const uint FormatFlagLinear = 0x04;   // PNG_FORMAT_FLAG_LINEAR (16-bit samples)
    internal const uint FormatRgb = 0x02;          // PNG_FORMAT_RGB
    internal const uint FormatRgba = 0x03;         // PNG_FORMAT_RGBA
    internal const uint Flag16BitSrgb = 0x04;      // PNG_IMAGE_FLAG_16BIT_sRGB
    internal const uint ErrorBit = 0x02;           // PNG_IMAGE_ERROR in warning_or_error

    /// <summary>png_image (png.h, libpng 1.6): the layout is part of the library's ABI.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PngImage
    {
        public IntPtr Opaque;
        public uint Version;
        public uint Width;
        public uint Height;
        public uint Format;
        public uint Flags;
        public uint ColormapEntries;
        public uint WarningOrError;
        public fixed byte Message[64];
    }

    [LibraryImport(NativeLibraries.Png, EntryPoint = "png_image_begin_read_from_memory")]
    internal static partial int BeginReadFromMemory(PngImage* image, byte* memory, nuint size);

    [LibraryImport(NativeLibraries.Png, EntryPoint = "png_image_finish_read")]
    internal static partial int FinishRead(PngImage* image, void* background, byte* buffer, int rowStride, void* colormap);

    [LibraryImport(NativeLibraries.Png, EntryPoint = "png_image_free")]
    internal static partial void Free(PngImage* image);

    /// <summary>The message libpng left in the image (empty when none).</summary>
    internal static string MessageOf(PngImage* image) =>
        Marshal.PtrToStringUTF8((IntPtr)image->Message, FixedLength(image->Message, 64)) ?? "";

    private static int FixedLength(byte* text, int capacity)
    {
        var n = new ReadOnlySpan<byte>(text, capacity).IndexOf((byte)0);
        return n < 0 ? capacity : n;
    }
}

/// <summary>
/// Owns a zeroed native <c>png_image</c> and whatever libpng attached to it:
/// <c>png_image_free</c> (a no-op once <c>opaque</c> is null) then the struct's memory.
/// </summary>
internal sealed unsafe class PngImageHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public PngImageHandle()
        : base(ownsHandle: true)
    {
        NativeLibraries.EnsureRegistered();
        var image = (PngNative.PngImage*)NativeMemory.AllocZeroed((nuint)sizeof(PngNative.PngImage));
        image->Version = PngNative.ImageVersion;
        SetHandle((IntPtr)image);
    }

    public PngNative.PngImage* Image => (PngNative.PngImage*)handle;

    protected override bool ReleaseHandle()
    {
        PngNative.Free((PngNative.PngImage*)handle);
        NativeMemory.Free((void*)handle);
        return true;
    }
}
