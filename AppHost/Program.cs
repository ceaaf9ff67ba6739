using SynthVlm.AppHost;

// The local SynthVlm cluster (default verb), one run through it (`run`), or its manifests (`publish`).
var settings = AppHostSettings.Parse(args);
if (settings is null)
{
    return 2;
}

return settings.Verb switch
{
    AppHostVerb.Run => await RunCommand.RunAsync(settings),
    AppHostVerb.Publish => await PublishCommand.RunAsync(settings),
    _ => await ClusterCommand.RunAsync(settings),
};
