using TorchSharp;

namespace SynthVlm.Vlm.Tests;

public sealed class DisposeScopeTests
{
    [Fact]
    public void A_thousand_scoped_forward_backward_steps_leave_no_live_tensor_behind()
    {
        TorchRuntime.Initialize();
        using var w = torch.randn(16, 8, generator: new torch.Generator(7)).requires_grad_(true);
        using var x = torch.randn(8, generator: new torch.Generator(8));
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        for (var i = 0; i < 1000; i++)
        {
            using var scope = torch.NewDisposeScope();
            var loss = torch.tanh(torch.matmul(w, x)).pow(2).sum();
            loss.backward();
            // The gradient accumulates in place; zero it inside the scope like an optimizer step.
            w.grad!.zero_();
            if (i == 0)
            {
                // The counter sees this step's temporaries, so the final equality means they were freed.
                DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().BeGreaterThan(before);
            }
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }
}
