// A Hugging Face hub on 127.0.0.1 for the tests, answering what langquant asks of the real one:
//   GET  /api/models/<org>/<name>/revision/<rev>   model info: {sha, siblings: [{rfilename}], …}
//   HEAD /<org>/<name>/resolve/<rev>/<path>        X-Repo-Commit, ETag (small files: git blob SHA-1)
//                                                  or X-Linked-Etag + X-Linked-Size and a 302 to the
//                                                  CDN (LFS files: SHA-256), X-Error-Code on a 404
//   GET  the same                                  the bytes of a small file
// and a second server, another origin, as the CDN: GET /blobs/<sha256> with Range support. Faults
// are switched on per test: a gated repository (401 without the token), a renamed one (a relative
// redirect), a CDN that drops the connection after some bytes, one that serves damaged bytes, a
// file the model info lists but resolve answers 404 for. Every request is logged.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  /** branch or tag → commit */
  refs: Map<string, string>;
  /** commit → path → bytes */
  commits: Map<string, Map<string, Buffer>>;
  /** Paths stored with LFS (served through the CDN, hashed with SHA-256). */
  lfs: Set<string>;
  gatedToken?: string;
  /** Paths the model info lists but resolve answers 404 for. */
  missing?: Set<string>;
}

export interface Faults {
  /** The CDN closes the connection after this many bytes of a response, for the next `count` responses. */
  drop?: { afterBytes: number; count: number };
  /** The CDN flips a byte of everything it serves. */
  corrupt?: boolean;
  /** The CDN ignores Range. */
  ignoreRange?: boolean;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range: string | null;
  auth: string | null;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const commitOf = (s: string) => createHash('sha1').update(s).digest('hex');

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** old repo name → new name (a relative redirect on resolve). */
  readonly renamed = new Map<string, string>();
  readonly log: LoggedRequest[] = [];
  faults: Faults = {};
  endpoint = '';
  private hub!: Server;
  private cdn!: Server;
  private cdnUrl = '';
  private readonly blobs = new Map<string, Buffer>();

  async start(): Promise<this> {
    this.hub = createServer((q, r) => this.onHub(q, r));
    this.cdn = createServer((q, r) => this.onCdn(q, r));
    await Promise.all([
      new Promise<void>((ok) => this.hub.listen(0, '127.0.0.1', ok)),
      new Promise<void>((ok) => this.cdn.listen(0, '127.0.0.1', ok)),
    ]);
    this.endpoint = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
  }

  /** Adds (or moves) a branch of `repo` to a new commit holding `files`; returns the commit. */
  publish(
    repo: string,
    files: Record<string, Buffer>,
    opts: { branch?: string; lfs?: string[]; gatedToken?: string; missing?: string[] } = {},
  ): string {
    let r = this.repos.get(repo);
    if (!r) {
      r = {
        refs: new Map(),
        commits: new Map(),
        lfs: new Set(),
        gatedToken: opts.gatedToken,
        missing: new Set(opts.missing ?? []),
      };
      this.repos.set(repo, r);
    }
    const commit = commitOf(`${repo}:${r.commits.size}:${Object.keys(files).join(',')}`);
    r.commits.set(commit, new Map(Object.entries(files)));
    for (const p of opts.lfs ?? []) r.lfs.add(p);
    for (const b of Object.values(files)) this.blobs.set(sha256(b), b);
    r.refs.set(opts.branch ?? 'main', commit);
    return commit;
  }

  requests(server: 'hub' | 'cdn', method?: string): LoggedRequest[] {
    return this.log.filter((l) => l.server === server && (!method || l.method === method));
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private onHub(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, this.endpoint);
    this.log.push({
      server: 'hub',
      method: req.method!,
      url: url.pathname,
      range: req.headers.range ?? null,
      auth: req.headers.authorization ?? null,
    });
    const info = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/);
    const resolve = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    const name = info?.[1] ?? resolve?.[1];
    if (!name) return this.json(res, 404, { error: 'not found' });
    if (resolve && this.renamed.has(name)) {
      res.writeHead(307, { Location: `/${this.renamed.get(name)}/resolve/${resolve[2]}/${resolve[3]}` });
      return void res.end();
    }
    const repo = this.repos.get(name);
    if (!repo) return this.json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return this.json(
        res,
        401,
        {
          error: `Access to model ${name} is restricted. You must have access to it and be authenticated to access it.`,
        },
        { 'X-Error-Code': 'GatedRepo' },
      );
    }
    const rev = decodeURIComponent((info ?? resolve)![2]);
    const commit = repo.commits.has(rev) ? rev : repo.refs.get(rev);
    if (!commit)
      return this.json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'X-Error-Code': 'RevisionNotFound' });
    const files = repo.commits.get(commit)!;
    if (info) {
      return this.json(res, 200, {
        _id: 'x',
        id: name,
        sha: commit,
        private: false,
        gated: repo.gatedToken ? 'manual' : false,
        downloads: 0,
        likes: 0,
        lastModified: '2024-01-01T00:00:00.000Z',
        siblings: [...files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    const path = decodeURIComponent(resolve![3]);
    const bytes = files.get(path);
    if (!bytes || repo.missing?.has(path))
      return this.json(
        res,
        404,
        { error: 'Entry not found' },
        { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': commit },
      );
    if (repo.lfs.has(path)) {
      const sha = sha256(bytes);
      res.writeHead(302, {
        'X-Repo-Commit': commit,
        'X-Linked-Etag': `"${sha}"`,
        'X-Linked-Size': String(bytes.length),
        ETag: '"not-the-content-hash"',
        Location: `${this.cdnUrl}/blobs/${sha}`,
        'Content-Length': '0',
      });
      return void res.end();
    }
    res.writeHead(200, {
      'X-Repo-Commit': commit,
      ETag: `"${gitSha1(bytes)}"`,
      'Content-Length': String(bytes.length),
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  private onCdn(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, this.cdnUrl);
    this.log.push({
      server: 'cdn',
      method: req.method!,
      url: url.pathname,
      range: req.headers.range ?? null,
      auth: req.headers.authorization ?? null,
    });
    const blob = this.blobs.get(url.pathname.replace('/blobs/', ''));
    if (!blob) return void res.writeHead(404).end();
    let body = blob;
    if (this.faults.corrupt) {
      body = Buffer.from(blob);
      body[body.length >> 1] ^= 0xff;
    }
    let start = 0;
    const m = (req.headers.range ?? '').match(/^bytes=(\d+)-$/);
    if (m && !this.faults.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) return void res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'Content-Length': String(body.length - start),
      });
    } else {
      res.writeHead(200, { 'Content-Length': String(body.length) });
    }
    const rest = body.subarray(start);
    const drop = this.faults.drop;
    if (drop && drop.count > 0 && rest.length > drop.afterBytes) {
      drop.count--;
      res.write(rest.subarray(0, drop.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(rest);
  }
}
