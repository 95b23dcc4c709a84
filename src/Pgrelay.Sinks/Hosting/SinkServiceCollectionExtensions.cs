using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pgrelay.Core.Status;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Store;

namespace Pgrelay.Sinks.Hosting;

public static class SinkServiceCollectionExtensions
{
    /// <summary>
    /// Adds the sinks (a <see cref="SinkSupervisor"/>, its metrics and a hosted service running them). Needs a
    /// <see cref="ReplicatedStore"/> singleton and uses the <see cref="ReplicationStatus"/> singleton when there is one. The hosted service is put first so the supervisor (and with it every
    /// sink's durable consumer) exists before any other hosted service, replication included, starts.
    /// </summary>
    public static IServiceCollection AddPgrelaySinks(this IServiceCollection services, SinkSettings settings)
    {
        services.AddMetrics();   // the meter factory (the factory disposes the meters it made)
        services.AddSingleton(settings);
        services.AddSingleton(sp =>
        {
            var replication = sp.GetService<ReplicationStatus>();
            return new SinkSupervisor(settings, sp.GetRequiredService<ReplicatedStore>(), sp.GetRequiredService<ILoggerFactory>(),
                replication is null ? null : () => replication.ConfirmedLsn, idleLsn: replication is null ? null : () => replication.IdleLsn);
        });
        services.AddSingleton<SinkMetrics>();
        services.Insert(0, ServiceDescriptor.Singleton<IHostedService>(sp =>
        {
            sp.GetRequiredService<SinkMetrics>();
            return new SinkService(sp.GetRequiredService<SinkSupervisor>());
        }));
        return services;
    }
}
