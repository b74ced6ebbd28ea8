/* route.c - (being written) */
#include "../reelimpl.h"
