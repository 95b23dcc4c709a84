using Pgrelay.Cli;

return await PgrelayCli.RunAsync(args);
