"""fastapi_app.py - the HTTP benchmark's FastAPI peer (bench/http/http.c).

Run by reel-bench with Debian's interpreter, which has python3-fastapi and
python3-uvicorn (a pyenv `python3` on PATH may not):

    /usr/bin/python3 -m uvicorn fastapi_app:app --app-dir bench/http \
        --host 127.0.0.1 --port PORT --no-access-log --log-level warning

Routes and bodies are those of bench/http/http_common.h, byte for byte:
  GET /hello   200 text/plain "hello, world\\n"
  GET /stream  200 text/plain, chunked: "chunk 0\\n" .. "chunk 9\\n", 20 ms apart
"""
import asyncio

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, StreamingResponse

app = FastAPI()


@app.get("/hello")
async def hello():
    return PlainTextResponse("hello, world\n")


async def chunks():
    for i in range(10):
        if i:
            await asyncio.sleep(0.02)
        yield f"chunk {i}\n"


@app.get("/stream")
async def stream():
    return StreamingResponse(chunks(), media_type="text/plain")
