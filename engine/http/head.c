/* head.c - (being written) */
#include "../reelimpl.h"
