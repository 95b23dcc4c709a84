using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Pgrelay.Micro -- --filter '*' [--job short]
BenchmarkSwitcher.FromAssembly(typeof(Pgrelay.Micro.StoreReadBenchmarks).Assembly).Run(args);
