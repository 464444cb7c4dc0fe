// Autograd for the linreg_ext ops, registered with TORCH_LIBRARY_IMPL(linreg_ext, Autograd, m) at
// the bottom. In C++ rather than Python so that a training step's forward and backward never
// enter the interpreter (a third of the per-step overhead at small batches) and so that a C++-only
// process (LibTorch) can train with the ops too.
//
// linear_mse_grad's backward only scales the gradients its forward already computed in the same
// pass over X; the residual is recomputed only for d/dX and d/dy, and for double backward.
#include "../linreg.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace linreg_ext {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Each forward() calls the public API (linreg.h) below autograd, so it reaches the backend kernel.

// pred = X w + b. d/dX = g w^T, d/dw = X^T g, d/db = sum g; plain ATen, so differentiable again.
class LinearForward : public torch::autograd::Function<LinearForward> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx,
      const at::Tensor& X,
      const at::Tensor& weight,
      const at::Tensor& bias) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    ctx->save_for_backward({X, weight, bias});
    return linear_forward(X, weight, bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &X = saved[0], &weight = saved[1], &bias = saved[2];
    const at::Tensor& grad = grads[0];  // [N]
    at::Tensor grad_X, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_X = at::outer(grad, weight.reshape({-1}));
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = at::matmul(grad, X).reshape(weight.sizes());
    }
    if (ctx->needs_input_grad(2)) {
      grad_bias = grad.sum().reshape(bias.sizes());
    }
    return {grad_X, grad_weight, grad_bias};
  }
};

// (loss, grad_weight, grad_bias); only loss is differentiable: grad_weight and grad_bias are
// returned as values. d loss/dw = grad_weight, d loss/db = grad_bias, d loss/dX = (2/N) r w^T,
// d loss/dy = -(2/N) r, with r = X w + b - y.
class LinearMseGrad : public torch::autograd::Function<LinearMseGrad> {
 public:
  static variable_list forward(
      AutogradContext* ctx,
      const at::Tensor& X,
      const at::Tensor& weight,
      const at::Tensor& bias,
      const at::Tensor& y) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [loss, grad_weight, grad_bias] = linear_mse_grad(X, weight, bias, y);
    ctx->mark_non_differentiable({grad_weight, grad_bias});
    ctx->save_for_backward({X, weight, bias, y, grad_weight, grad_bias});
    return {loss, grad_weight, grad_bias};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &X = saved[0], &weight = saved[1], &bias = saved[2], &y = saved[3];
    at::Tensor grad_weight = saved[4], grad_bias = saved[5];
    const at::Tensor& grad_loss = grads[0];  // 0-D
    const double two_over_n = 2.0 / static_cast<double>(X.size(0));
    const bool need_residual = ctx->needs_input_grad(0) || ctx->needs_input_grad(3);
    at::Tensor r;  // [N], only when needed
    if (need_residual || at::GradMode::is_enabled()) {
      r = linear_forward(X, weight, bias) - y.reshape({-1});
    }
    if (at::GradMode::is_enabled()) {
      // create_graph: the saved gradients are constants; rebuild them from differentiable ops
      // so that second derivatives are right.
      grad_weight = (two_over_n * at::matmul(r, X)).reshape(weight.sizes());
      grad_bias = (two_over_n * r.sum()).reshape(bias.sizes());
    }
    variable_list out(4);
    if (ctx->needs_input_grad(1)) {
      out[1] = grad_loss * grad_weight;
    }
    if (ctx->needs_input_grad(2)) {
      out[2] = grad_loss * grad_bias;
    }
    if (need_residual) {
      const at::Tensor scaled = (grad_loss * two_over_n) * r;
      if (ctx->needs_input_grad(0)) {
        out[0] = at::outer(scaled, weight.reshape({-1}));
      }
      if (ctx->needs_input_grad(3)) {
        out[3] = (-scaled).reshape(y.sizes());
      }
    }
    return out;
  }
};

at::Tensor
linear_forward_autograd(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  return LinearForward::apply(X, weight, bias);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_autograd(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  const auto out = LinearMseGrad::apply(X, weight, bias, y);
  return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(linreg_ext, Autograd, m) {
  m.impl("linear_forward", &linear_forward_autograd);
  m.impl("linear_mse_grad", &linear_mse_grad_autograd);
}

}  // namespace linreg_ext
