using FluentAssertions;
using Grpc.Health.V1;
using SynthVlm.Testing;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace SynthVlm.Rpc.Tests;

public sealed class HealthTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private HealthClient Client => new(fixture.Channel);

    [Fact]
    public async Task Overall_status_is_serving()
    {
        var response = await Client.CheckAsync(new HealthCheckRequest()).WithTimeout();
        response.Status.Should().Be(ServingStatus.Serving);
    }

    [Fact]
    public async Task Unregistered_service_is_not_found()
    {
        var act = () => Client.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }).WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.NotFound);
    }

    [Fact]
    public async Task Registered_status_is_reported_by_check_and_list()
    {
        fixture.Server.Health.SetStatus("health.test.A", ServingStatus.NotServing);
        (await Client.CheckAsync(new HealthCheckRequest { Service = "health.test.A" }).WithTimeout()).Status.Should().Be(ServingStatus.NotServing);

        var list = await Client.ListAsync(new HealthListRequest()).WithTimeout();
        list.Statuses.Should().ContainKey("health.test.A");
        list.Statuses["health.test.A"].Status.Should().Be(ServingStatus.NotServing);
        list.Statuses[""].Status.Should().Be(ServingStatus.Serving);
    }

    [Fact]
    public async Task Watch_unknown_service_stays_open_and_receives_changes()
    {
        const string name = "health.test.Watched";
        using var call = Client.Watch(new HealthCheckRequest { Service = name });
        await using var reader = call.ReadAllAsync(TestTimeout.Token()).GetAsyncEnumerator();

        (await reader.MoveNextAsync().WithTimeout()).Should().BeTrue();
        reader.Current.Status.Should().Be(ServingStatus.ServiceUnknown);

        fixture.Server.Health.SetStatus(name, ServingStatus.Serving);
        (await reader.MoveNextAsync().WithTimeout()).Should().BeTrue();
        reader.Current.Status.Should().Be(ServingStatus.Serving);

        fixture.Server.Health.SetStatus(name, ServingStatus.NotServing);
        (await reader.MoveNextAsync().WithTimeout()).Should().BeTrue();
        reader.Current.Status.Should().Be(ServingStatus.NotServing);
    }

    [Fact]
    public async Task Watch_ends_with_deadline_exceeded_at_its_deadline()
    {
        // Long enough for the first message to arrive on a loaded machine, short enough to keep the test quick.
        using var call = Client.Watch(new HealthCheckRequest(), new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(1500)));
        var statuses = new List<ServingStatus>();
        var act = async () =>
        {
            await foreach (var response in call.ReadAllAsync(TestTimeout.Token()))
            {
                statuses.Add(response.Status);
            }
        };
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.DeadlineExceeded);
        statuses.Should().Equal(ServingStatus.Serving);
    }
}
