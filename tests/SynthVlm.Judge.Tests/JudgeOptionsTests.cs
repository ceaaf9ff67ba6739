namespace SynthVlm.Judge.Tests;

public sealed class JudgeOptionsTests
{
    private static readonly JudgeOptions Valid = new() { Endpoint = new Uri("https://api.example.com/v1/"), Model = "gpt-test" };

    [Fact]
    public void A_missing_endpoint_is_an_argument_exception_naming_it()
    {
        var act = () => new CaptionJudge(Valid with { Endpoint = null });
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "Endpoint").WithMessage("*JudgeOptions.Endpoint*");
    }

    [Theory]
    [InlineData("/v1")]
    [InlineData("ftp://example.com/v1")]
    [InlineData("https://example.com/v1?x=1")]
    public void A_bad_endpoint_is_an_argument_exception_naming_it(string url)
    {
        var act = () => new CaptionJudge(Valid with { Endpoint = new Uri(url, UriKind.RelativeOrAbsolute) });
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "Endpoint").WithMessage($"*{url}*");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void A_missing_model_is_an_argument_exception_naming_it(string? model)
    {
        var act = () => new CaptionJudge(Valid with { Model = model });
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "Model");
    }

    [Fact]
    public void Limits_out_of_range_are_rejected_with_their_names()
    {
        ((Action)(() => new CaptionJudge(Valid with { MaxConcurrency = 0 }))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "MaxConcurrency");
        ((Action)(() => new CaptionJudge(Valid with { MaxRetries = -1 }))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "MaxRetries");
        ((Action)(() => new CaptionJudge(Valid with { Timeout = TimeSpan.Zero }))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "Timeout");
    }

    [Fact]
    public void The_request_goes_to_chat_completions_under_the_base_with_or_without_a_trailing_slash()
    {
        using var a = new CaptionJudge(Valid);
        using var b = new CaptionJudge(Valid with { Endpoint = new Uri("https://api.example.com/v1") });
        a.ChatCompletionsUri.Should().Be(new Uri("https://api.example.com/v1/chat/completions"));
        b.ChatCompletionsUri.Should().Be(new Uri("https://api.example.com/v1/chat/completions"));
    }

    [Fact]
    public void An_explicit_api_key_wins_over_the_environment()
    {
        (Valid with { ApiKey = "sk-explicit" }).ResolveApiKey().Should().Be("sk-explicit");
    }
}
