/*
 * compiler.h - what the compiler tells us and what we tell it: branch hints
 * for hot and cold paths (liburing's uring_likely) and whether this build
 * runs under AddressSanitizer or ThreadSanitizer, whose fiber-switch hooks
 * the core must call (sched.c, fiber.c; docs/core.md).
 * Shared by the core and, through reelimpl.h, the layers.
 */
#ifndef REEL_COMPILER_H
#define REEL_COMPILER_H

#define reel_likely(x)   __builtin_expect(!!(x), 1)
#define reel_unlikely(x) __builtin_expect(!!(x), 0)

#if defined(__SANITIZE_ADDRESS__)
#define REEL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REEL_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define REEL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define REEL_TSAN 1
#endif
#endif

#endif /* REEL_COMPILER_H */
