/*
 * rt.h - what the runtime's files share (engine/runtime/: rt.c, remote.c).
 */
#ifndef REEL_RUNTIME_RT_H
#define REEL_RUNTIME_RT_H

#include <reel_rt.h>

#include "../reelimpl.h"

/*
 * The inbox of loop @index of the calling fiber's runtime, for a post;
 * outside a runtime (plain reel_run) loop 0 is the caller's own loop.
 * Returns 0 with the inbox in *@ib; -EINVAL for @index out of range;
 * -ESHUTDOWN when the runtime is stopping or every main has returned.
 * Context: a fiber.
 */
int reel_rt__target(int index, struct reel__inbox **ib);

#endif /* REEL_RUNTIME_RT_H */
