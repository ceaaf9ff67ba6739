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

public sealed class LlavaMemoryTests
{
    [Fact]
    public void Forward_backward_and_update_steps_of_the_tiny_llava_leave_no_live_tensor_behind()
    {
        using var model = Model.LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        var sequences = LlavaParityTests.Sequences();
        var parameters = model.parameters().ToList();

        void Step()
        {
            using var scope = torch.NewDisposeScope();
            using var output = model.Forward(sequences, pixels);
            output.Loss!.backward();
            using (torch.no_grad())
            {
                foreach (var p in parameters.Where(p => p.grad is not null))
                {
                    p.sub_(p.grad!.mul(1e-3));
                    p.grad!.zero_();
                }
            }
        }

        // The first step creates the gradients, which live with the parameters.
        Step();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 50; i++)
        {
            Step();
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }
}
