/* client.c - (being written) */
#include "../reelimpl.h"
