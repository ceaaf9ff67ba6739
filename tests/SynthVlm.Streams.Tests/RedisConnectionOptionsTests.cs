using StackExchange.Redis;

namespace SynthVlm.Streams.Tests;

public class RedisConnectionOptionsTests
{
    [Fact]
    public void Aspire_style_connection_string_parses()
    {
        var o = RedisConnectionOptions.Parse("localhost:6380,password=s3cret,user=alice,ssl=false,abortConnect=false,connectTimeout=1500,syncTimeout=2500,defaultDatabase=3,name=curation-1,someUnknownKey=42");
        o.Host.Should().Be("localhost");
        o.Port.Should().Be(6380);
        o.EndPoint.Should().Be("localhost:6380");
        o.Password.Should().Be("s3cret");
        o.User.Should().Be("alice");
        o.UseTls.Should().BeFalse();
        o.AbortConnect.Should().BeFalse();
        o.ConnectTimeout.Should().Be(TimeSpan.FromMilliseconds(1500));
        o.CommandTimeout.Should().Be(TimeSpan.FromMilliseconds(2500));
        o.Database.Should().Be(3);
        o.ClientName.Should().Be("curation-1");
        o.Protocol.Should().Be(RedisProtocol.Resp3);
    }

    [Fact]
    public void Defaults_apply_when_only_a_host_is_given()
    {
        var o = RedisConnectionOptions.Parse("redis-host");
        o.EndPoint.Should().Be("redis-host:6379");
        o.Password.Should().BeNull();
        o.Database.Should().Be(0);
        o.CommandTimeout.Should().Be(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Protocol_can_be_forced()
    {
        RedisConnectionOptions.Parse("h:1,protocol=resp2").Protocol.Should().Be(RedisProtocol.Resp2);
        RedisConnectionOptions.Parse("h:1,protocol=3").Protocol.Should().Be(RedisProtocol.Resp3);
    }

    [Theory]
    [InlineData("redis://:pw@10.0.0.5:6390/2", "10.0.0.5", 6390, null, "pw", 2, false)]
    [InlineData("redis://bob:p%40ss@example:7000", "example", 7000, "bob", "p@ss", 0, false)]
    [InlineData("rediss://cache.example.com", "cache.example.com", 6379, null, null, 0, true)]
    [InlineData("redis://[::1]:6379/1", "::1", 6379, null, null, 1, false)]
    public void Uris_parse(string uri, string host, int port, string? user, string? password, int db, bool tls)
    {
        var o = RedisConnectionOptions.Parse(uri);
        o.Host.Should().Be(host);
        o.Port.Should().Be(port);
        o.User.Should().Be(user);
        o.Password.Should().Be(password);
        o.Database.Should().Be(db);
        o.UseTls.Should().Be(tls);
    }

    [Theory]
    [InlineData("host:notaport", "port")]
    [InlineData("host:70000", "port")]
    [InlineData("host:1,connectTimeout=abc", "connectTimeout")]
    [InlineData("host:1,syncTimeout=-5", "syncTimeout")]
    [InlineData("host:1,defaultDatabase=x", "defaultDatabase")]
    [InlineData("host:1,ssl=maybe", "ssl")]
    [InlineData("host:1,protocol=resp9", "protocol")]
    [InlineData("password=x", "no endpoint")]
    [InlineData("a:1,b:2", "second endpoint")]
    [InlineData(":6379", "no host")]
    [InlineData("redis://host:1/abc", "database")]
    public void Bad_input_names_the_offending_part(string text, string named)
    {
        var act = () => RedisConnectionOptions.Parse(text);
        act.Should().Throw<FormatException>().Which.Message.Should().Contain(named);
    }

    [Fact]
    public void Empty_string_is_an_argument_error_naming_the_variable()
    {
        var act = () => RedisConnectionOptions.Parse("  ");
        act.Should().Throw<ArgumentException>().WithMessage("*ConnectionStrings__redis*");
    }

    [Fact]
    public void ToString_and_errors_never_show_the_password()
    {
        var o = RedisConnectionOptions.Parse("h:1,password=topsecret,user=u");
        o.ToString().Should().NotContain("topsecret").And.Contain("h:1").And.Contain("password=*****");
        var act = () => RedisConnectionOptions.Parse("password=topsecret");
        act.Should().Throw<FormatException>().Which.Message.Should().NotContain("topsecret");
    }

    [Fact]
    public void Uri_form_becomes_a_stackexchange_configuration_with_the_same_credentials()
    {
        var config = RedisConnectionOptions.Parse("redis://bob:p%40ss@example:7000/2").ToConfigurationOptions();
        config.EndPoints.Should().ContainSingle().Which.ToString().Should().Contain("example").And.Contain("7000");
        (config.User, config.Password, config.DefaultDatabase, config.Ssl).Should().Be(("bob", "p@ss", 2, false));

        // The string handed to AddRedisClient parses back to the same thing (ConfigurationOptions.Parse is what Aspire runs).
        var text = RedisConnectionOptions.Parse("redis://bob:p%40ss@example:7000/2").ToConfigurationString();
        var parsed = ConfigurationOptions.Parse(text);
        (parsed.User, parsed.Password, parsed.DefaultDatabase).Should().Be(("bob", "p@ss", 2));
        parsed.Protocol.Should().Be(RedisProtocol.Resp3);
    }

    [Fact]
    public void Stackexchange_form_keeps_its_keys()
    {
        var config = RedisConnectionOptions.Parse("localhost:6380,password=s3cret,user=alice,ssl=true,abortConnect=false,connectTimeout=1500,syncTimeout=2500,defaultDatabase=3,name=curation-1,protocol=resp2").ToConfigurationOptions();
        (config.User, config.Password, config.Ssl, config.AbortOnConnectFail, config.ConnectTimeout, config.SyncTimeout, config.AsyncTimeout, config.DefaultDatabase, config.ClientName, config.Protocol)
            .Should().Be(("alice", "s3cret", true, false, 1500, 2500, 2500, 3, "curation-1", RedisProtocol.Resp2));
    }
}
