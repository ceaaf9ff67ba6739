using SynthVlm.Vlm;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Bench.Training;

/// <summary>
/// The crash the 50,000-sample memory run met, alone: <c>x.add(y)</c> makes an implicit
/// <see cref="Scalar"/> alpha = 1 (TorchSharp 0.107's Tensor.add(Tensor) calls add(target, 1)) and
/// passes its handle to THSTensor_add; nothing keeps the Scalar alive during the native call, so
/// when another thread's allocations start a GC, its finalizer can free the native scalar while
/// LibTorch reads it ("Expected false to be true" from c10::Scalar::toFloat, or a wrong alpha).
/// A thread allocating and collecting stands in for the loader's workers. With "kept", alpha is
/// one long-lived Scalar and nothing fails. Exit code 1 when an add failed or gave a wrong sum.
/// </summary>
internal static class ScalarRace
{
    public static int Run(string[] args)
    {
        TorchRuntime.Initialize();
        var seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20;
        using var kept = args.Length > 1 && args[1] == "kept" ? 1.ToScalar() : null;
        var stop = 0;
        var collector = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                GC.KeepAlive(new byte[64 * 1024]);
                GC.Collect(0);
            }
        }) { IsBackground = true };
        using var x = ones(4);
        using var y = ones(4);
        collector.Start();
        long adds = 0, wrong = 0;
        var end = DateTime.UtcNow.AddSeconds(seconds);
        try
        {
            while (DateTime.UtcNow < end)
            {
                using var scope = NewDisposeScope();
                for (var i = 0; i < 1000; i++, adds++)
                {
                    var sum = kept is null ? x.add(y) : x.add(y, kept);
                    if (sum[0].item<float>() != 2f)
                    {
                        wrong++;
                    }
                }
            }
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            Console.WriteLine($"alpha {(kept is null ? "implicit" : "kept")}: failed after {adds} adds: {e.Message.Split('\n')[0]}");
            return 1;
        }
        finally
        {
            Volatile.Write(ref stop, 1);
        }
        Console.WriteLine($"alpha {(kept is null ? "implicit" : "kept")}: {adds} adds in {seconds} s, {wrong} wrong");
        return wrong > 0 ? 1 : 0;
    }
}
