/* server.c - (being written) */
#include "../reelimpl.h"
