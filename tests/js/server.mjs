// A local HTTP server for model downloads that misbehaves on purpose.
//
// startServer(respond) listens on 127.0.0.1 (a free port) and records every
// request; respond(req, res, n) answers request n (0-based), usually through
// sendFile, whose options are the misbehaviours the download code must survive.
import http from "node:http";
import { gzipSync } from "node:zlib";

export async function startServer(respond) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, path: req.url, range: req.headers.range ?? null,
      ifRange: req.headers["if-range"] ?? null });
    respond(req, res, requests.length - 1);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    requests,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Answer with `bytes` as a static file server does: Content-Length, ETag and,
 * with `ranges`, Accept-Ranges and 206 answers to "Range: bytes=N-" (honouring If-Range).
 *
 * @param {object} [o]
 * @param {boolean} [o.ranges]     support Range requests
 * @param {string} [o.etag]        the file's ETag (a changed file has another one)
 * @param {number} [o.cutAfter]    destroy the connection after this many body bytes
 * @param {boolean} [o.length]     send Content-Length (false: chunked transfer encoding)
 * @param {boolean} [o.gzip]       send the body gzip-encoded (Content-Length of the encoded bytes)
 * @param {boolean} [o.wholeOn206] answer a Range request with 206 but the whole file
 * @param {number} [o.announce]    claim this Content-Length and send the whole body anyway (raw socket)
 */
export function sendFile(req, res, bytes, o = {}) {
  const { ranges = true, etag = '"v1"', cutAfter = null, length = true, gzip = false, wholeOn206 = false } = o;
  const range = ranges && /^bytes=(\d+)-$/.exec(req.headers.range || "");
  const ifRange = req.headers["if-range"];
  const partial = !!range && (!ifRange || ifRange === etag);
  const start = partial ? Number(range[1]) : 0;
  let body = bytes.subarray(wholeOn206 ? 0 : start);
  if (o.announce !== undefined) {
    res.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${o.announce}\r\nETag: ${etag}\r\n` +
      "Connection: close\r\n\r\n");
    res.socket.end(body);
    return;
  }
  res.statusCode = partial ? 206 : 200;
  res.setHeader("ETag", etag);
  if (ranges) res.setHeader("Accept-Ranges", "bytes");
  if (partial) res.setHeader("Content-Range", `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
  if (gzip) {
    body = gzipSync(body);
    res.setHeader("Content-Encoding", "gzip");
  }
  if (length) res.setHeader("Content-Length", body.length);
  if (req.method === "HEAD") {
    res.end();
  } else if (cutAfter !== null) {
    res.write(body.subarray(0, cutAfter), () => res.destroy());
  } else if (!length) {
    res.write(body); // end(body) alone would add the Content-Length
    res.end();
  } else {
    res.end(body);
  }
}

/** Answer 404, as a server does for a URL with a typo. */
export function notFound(req, res) {
  res.statusCode = 404;
  res.end("not found");
}

/** Serve with `respond` for the duration of `body(server)`. */
export async function withServer(respond, body) {
  const server = await startServer(respond);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}
