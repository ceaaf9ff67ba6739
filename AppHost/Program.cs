using SynthVlm.AppHost;

// The local SynthVlm cluster (default verb), or one run through it (`run`).
var settings = AppHostSettings.Parse(args);
if (settings is null)
{
    return 2;
}

return settings.Verb == AppHostVerb.Run
    ? await RunCommand.RunAsync(settings)
    : await ClusterConsole.RunAsync(settings);
