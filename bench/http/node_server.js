// node_server.js - the HTTP benchmark's Node.js peer (bench/http/http.c):
// Node's own http module, one process, the routes and bodies of
// bench/http/http_common.h byte for byte.
//
// Usage: node node_server.js PORT
//   GET /hello   200 text/plain "hello, world\n" (Content-Length)
//   GET /stream  200 text/plain, chunked: "chunk 0\n" .. "chunk 9\n", 20 ms apart
// Prints "listening on 127.0.0.1:PORT" once it listens; SIGTERM ends it.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 0);
const hello = Buffer.from('hello, world\n');

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/hello') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': hello.length });
    res.end(hello);
  } else if (req.method === 'GET' && req.url === '/stream') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    let i = 0;
    const step = () => {
      res.write(`chunk ${i}\n`);
      if (++i === 10)
        res.end();
      else
        setTimeout(step, 20);
    };
    step();
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  console.log(`node_server: listening on 127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
