/* The registry of kernels the addon exports: one line each, the Backend method's name (src/tensor/backend.ts)
 * and its N-API wrapper in binding.c. binding.c's export table is made from this list, and so is the
 * `kernels` name list the TypeScript native backend is built from (src/tensor/backends/native.ts), so a new
 * kernel is its wrapper plus one line here on the C side. */
#ifndef NV_KERNELS_H
#define NV_KERNELS_H

#define NV_KERNELS(X)                                                                                          \
  X(gemm, js_gemm)                                                                                             \
  X(roundBf16, js_round_bf16)                                                                                  \
  X(addBias, js_add_bias)                                                                                      \
  X(sumRows, js_sum_rows)                                                                                      \
  X(add, js_add)                                                                                               \
  X(mul, js_mul)                                                                                               \
  X(scale, js_scale)                                                                                           \
  X(axpy, js_axpy)                                                                                             \
  X(layerNorm, js_layer_norm)                                                                                  \
  X(layerNormBackward, js_layer_norm_backward)                                                                 \
  X(gelu, js_gelu)                                                                                             \
  X(geluBackward, js_gelu_backward)                                                                            \
  X(relu, js_relu)                                                                                             \
  X(reluBackward, js_relu_backward)                                                                            \
  X(softmax, js_softmax)                                                                                       \
  X(softmaxBackward, js_softmax_backward)                                                                      \
  X(crossEntropy, js_cross_entropy)                                                                            \
  X(crossEntropyBackward, js_cross_entropy_backward)                                                           \
  X(attention, js_attention)                                                                                   \
  X(attentionBackward, js_attention_backward)                                                                  \
  X(embedding, js_embedding)                                                                                   \
  X(embeddingBackward, js_embedding_backward)                                                                  \
  X(conv2d, js_conv2d)                                                                                         \
  X(conv2dBackward, js_conv2d_backward)                                                                        \
  X(dropout, js_dropout)                                                                                       \
  X(sum, js_sum)                                                                                               \
  X(sumSquares, js_sum_squares)                                                                                \
  X(adamw, js_adamw)

#endif
