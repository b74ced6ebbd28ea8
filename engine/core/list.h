/*
 * list.h - circular doubly-linked intrusive lists, in the manner of the
 * kernel's include/linux/list.h.
 *
 * A list head and its entries are the same struct; an entry is embedded in
 * its owner and found again with reel__container_of. Nothing here allocates.
 * Debug builds poison removed entries so a use after removal faults at once.
 */
#ifndef REEL_LIST_H
#define REEL_LIST_H

#include <stddef.h>
#include <stdbool.h>

#define reel__container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct reel__list {
	struct reel__list *next, *prev;
};

#ifndef NDEBUG
#define REEL__LIST_POISON1 ((struct reel__list *)0x100)
#define REEL__LIST_POISON2 ((struct reel__list *)0x122)
#endif

static inline void reel__list_init(struct reel__list *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool reel__list_empty(const struct reel__list *h)
{
	return h->next == h;
}

static inline void reel__list_insert(struct reel__list *n, struct reel__list *prev,
			       struct reel__list *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

/* Add @n at the tail of @h (FIFO order with reel__list_pop). */
static inline void reel__list_add_tail(struct reel__list *n, struct reel__list *h)
{
	reel__list_insert(n, h->prev, h);
}

static inline void reel__list_add(struct reel__list *n, struct reel__list *h)
{
	reel__list_insert(n, h, h->next);
}

/* Unlink @n; it must be re-initialised or re-added before its next use. */
static inline void reel__list_del(struct reel__list *n)
{
	n->next->prev = n->prev;
	n->prev->next = n->next;
#ifndef NDEBUG
	n->next = REEL__LIST_POISON1;
	n->prev = REEL__LIST_POISON2;
#endif
}

/* Unlink @n and leave it as an empty list, safe to delete again. */
static inline void reel__list_del_init(struct reel__list *n)
{
	n->next->prev = n->prev;
	n->prev->next = n->next;
	reel__list_init(n);
}

/* Remove and return the first entry, or NULL when @h is empty. */
static inline struct reel__list *reel__list_pop(struct reel__list *h)
{
	struct reel__list *n = h->next;

	if (n == h)
		return NULL;
	reel__list_del(n);
	return n;
}

/* Move every entry of @from to the tail of @to; @from ends up empty. */
static inline void reel__list_splice_tail_init(struct reel__list *from,
					       struct reel__list *to)
{
	if (reel__list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	reel__list_init(from);
}

#define reel__list_for_each(pos, h) \
	for ((pos) = (h)->next; (pos) != (h); (pos) = (pos)->next)

/* Iterate where the loop body may delete @pos. */
#define reel__list_for_each_safe(pos, tmp, h) \
	for ((pos) = (h)->next, (tmp) = (pos)->next; (pos) != (h); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif /* REEL_LIST_H */
