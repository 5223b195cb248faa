/* tree.c - see tree.h. */
#include "tree.h"

#include <stdio.h>

int dst_tree_start(dst_tree_build_t *b, dstrat_tree_t *t, uint32_t *depth_buf, uint32_t max_nodes,
                   uint32_t max_depth, dstrat_token_t root) {
    if (!b || !t || !depth_buf || !t->token || !t->parent || max_nodes == 0 || root < 0)
        return DSTRAT_E_INVALID_ARG;
    b->tree = t;
    b->depth = depth_buf;
    b->max_nodes = max_nodes < t->capacity ? max_nodes : t->capacity;
    if (b->max_nodes == 0) return DSTRAT_E_INVALID_ARG;
    b->max_depth = max_depth;
    b->has_logp = DSTRAT_HAS(t, dstrat_tree_t, draft_logp) && t->draft_logp != NULL;
    t->n_nodes = 1;
    t->flags = DSTRAT_TREE_CHAIN;
    t->token[0] = root;
    t->parent[0] = DSTRAT_PARENT_NONE;
    if (b->has_logp) t->draft_logp[0] = 0.0f;
    depth_buf[0] = 0;
    return 0;
}

int dst_tree_can_add(const dst_tree_build_t *b, int32_t parent) {
    const dstrat_tree_t *t = b->tree;
    if (parent < 0 || (uint32_t) parent >= t->n_nodes) return 0;
    return t->n_nodes < b->max_nodes && b->depth[parent] + 1 <= b->max_depth;
}

int32_t dst_tree_add(dst_tree_build_t *b, int32_t parent, dstrat_token_t token, float draft_logp) {
    dstrat_tree_t *t = b->tree;
    if (parent < 0 || (uint32_t) parent >= t->n_nodes || token < 0) return DSTRAT_E_INVALID_ARG;
    if (!dst_tree_can_add(b, parent)) return DSTRAT_E_CAPACITY;
    const uint32_t i = t->n_nodes++;
    t->token[i] = token;
    t->parent[i] = parent;
    if (b->has_logp) t->draft_logp[i] = draft_logp;
    b->depth[i] = b->depth[parent] + 1;
    if ((uint32_t) parent != i - 1) t->flags &= ~DSTRAT_TREE_CHAIN;
    return (int32_t) i;
}

uint32_t dst_tree_depth(const dstrat_tree_t *t, int32_t i) {
    uint32_t d = 0;
    while (i > 0 && (uint32_t) i < t->n_nodes) {
        i = t->parent[i];
        d++;
    }
    return d;
}

uint32_t dst_tree_children(const dstrat_tree_t *t, int32_t node, int32_t *out, uint32_t cap) {
    uint32_t n = 0;
    for (uint32_t i = (uint32_t) node + 1; i < t->n_nodes; i++)
        if (t->parent[i] == node) {
            if (n < cap) out[n] = (int32_t) i;
            n++;
        }
    return n;
}

int32_t dst_tree_find_child(const dstrat_tree_t *t, int32_t node, dstrat_token_t token) {
    for (uint32_t i = (uint32_t) node + 1; i < t->n_nodes; i++)
        if (t->parent[i] == node && t->token[i] == token) return (int32_t) i;
    return -1;
}

int dst_tree_validate(const dstrat_tree_t *t, dstrat_token_t root, uint32_t n_vocab,
                      uint32_t max_depth, char *err, size_t cap) {
#define BAD(...) do { if (err && cap) snprintf(err, cap, __VA_ARGS__); return DSTRAT_E_INVALID_ARG; } while (0)
    if (!t || !t->token || !t->parent) BAD("tree: NULL");
    if (t->n_nodes < 1 || t->n_nodes > t->capacity)
        BAD("tree: n_nodes %u outside 1..capacity %u", t->n_nodes, t->capacity);
    if (t->parent[0] != DSTRAT_PARENT_NONE) BAD("tree: node 0 has parent %d", t->parent[0]);
    if (t->token[0] != root) BAD("tree: root token %d, expected %d", t->token[0], root);
    int chain = 1;
    for (uint32_t i = 1; i < t->n_nodes; i++) {
        if (t->parent[i] < 0 || (uint32_t) t->parent[i] >= i)
            BAD("tree: node %u has parent %d (must be in 0..%u)", i, t->parent[i], i - 1);
        if (t->token[i] < 0 || (uint32_t) t->token[i] >= n_vocab)
            BAD("tree: node %u token %d outside 0..%u", i, t->token[i], n_vocab - 1);
        if (dst_tree_depth(t, (int32_t) i) > max_depth)
            BAD("tree: node %u deeper than %u", i, max_depth);
        if ((uint32_t) t->parent[i] != i - 1) chain = 0;
    }
    if ((t->flags & DSTRAT_TREE_CHAIN) && !chain) BAD("tree: CHAIN flag set on a branching tree");
    return 0;
#undef BAD
}
