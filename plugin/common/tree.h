/* tree.h - building and checking draft trees (dstrat_tree_t).
 *
 * A builder appends nodes in topological order with capacity and depth checks and keeps the
 * DSTRAT_TREE_CHAIN flag right. The read helpers (depth, children, find_child) work on any tree;
 * dst_tree_validate is what the conformance tests use to check a plugin's proposal.
 */
#ifndef DST_TREE_H
#define DST_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "dstrat.h"

typedef struct dst_tree_build {
    dstrat_tree_t *tree;   /* borrowed: the host's tree */
    uint32_t *depth;       /* [max_nodes] caller memory: depth of each node */
    uint32_t max_nodes;    /* min(tree->capacity, the session's max_tree_nodes) */
    uint32_t max_depth;    /* edges from the root */
    int has_logp;          /* the host's tree struct has draft_logp (DSTRAT_HAS) */
} dst_tree_build_t;

/* Starts a tree holding only the root. 0, or DSTRAT_E_INVALID_ARG (NULL arrays, max_nodes 0). */
int dst_tree_start(dst_tree_build_t *b, dstrat_tree_t *t, uint32_t *depth_buf, uint32_t max_nodes,
                   uint32_t max_depth, dstrat_token_t root);

/* Appends a node under parent. Returns its index (>= 1), DSTRAT_E_INVALID_ARG (parent not an
 * existing node, negative token) or DSTRAT_E_CAPACITY (node or depth limit reached). */
int32_t dst_tree_add(dst_tree_build_t *b, int32_t parent, dstrat_token_t token, float draft_logp);

/* 1 if another node can go under parent (room for a node and within the depth limit). */
int dst_tree_can_add(const dst_tree_build_t *b, int32_t parent);

/* Depth of node i (edges from the root), by walking parents. */
uint32_t dst_tree_depth(const dstrat_tree_t *t, int32_t i);

/* Children of node, in index order, written to out[0..cap); returns how many exist. */
uint32_t dst_tree_children(const dstrat_tree_t *t, int32_t node, int32_t *out, uint32_t cap);

/* The child of node carrying token (the lowest index if several do), or -1. */
int32_t dst_tree_find_child(const dstrat_tree_t *t, int32_t node, dstrat_token_t token);

/* Checks a proposal: 1 <= n_nodes <= capacity, parent[0] = PARENT_NONE, token[0] == root,
 * 0 <= parent[i] < i, tokens in [0, n_vocab), depth <= max_depth, and the CHAIN flag only on a
 * chain. 0 or DSTRAT_E_INVALID_ARG with a message naming the node. */
int dst_tree_validate(const dstrat_tree_t *t, dstrat_token_t root, uint32_t n_vocab,
                      uint32_t max_depth, char *err, size_t cap);

#endif /* DST_TREE_H */
