// Adafactor's update on the CPU in two passes over memory, registered as the torch ops optbench::adafactor_factored_
// and optbench::adafactor_unfactored_ (each takes lists of tensors at one step count). Built on first use by
// optbench/optim/_native.py; optbench/optim/adafactor.py holds the math (module docstring) and the reference
// implementation the tests compare these kernels against.
//
// Factored: a parameter X of shape (..., n, m) is treated as `batch` matrices of n rows. Per tensor:
//   pass 1 (reads X and G): sum X^2 (for RMS(X)); per row i, mean_j G^2 -> R_i; per column j, the sums of G^2 and
//           of G^2 / R_i, accumulated per thread. These give C, and mean(U^2) = mean(R) sum_ij G^2 / (R_i C_j) / nm
//           for the clipping factor, without forming U.
//   pass 2 (reads X and G again, writes X): X = X (1 - alpha wd) - G sqrt(mean(R) / R_i) C_j^-1/2 * scale, or the
//           momentum form. For tensors that fit in the last-level cache, the second pass reads from cache.
// Unfactored (vectors, or any tensor with factored=False), with V the full second moment:
//   pass 1 (reads X, G and V, writes V): sum X^2; V = lerp(V, G^2 + eps1, 1 - beta2_t); sum G^2 / V = sum U^2.
//   pass 2 (reads X, G and V, writes X): X = X (1 - alpha wd) - G V^-1/2 * scale, or the momentum form.
// alpha (RMS(X) scaling) and the clipping factor are taken over the whole tensor, as in the reference.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t FLUSH_ROWS = 32;

struct Constants {
  double rho, one_minus_beta2, eps1, eps2, clip_threshold, weight_decay, beta1;
  bool scale_parameter, clip, momentum;
};

template <typename T>
void factored_tensor(T* x, const T* g, T* rows, T* cols, T* mom, int64_t batch, int64_t n, int64_t m,
                     const Constants& k) {
  const int64_t total_rows = batch * n, bm = batch * m;
  const double w = k.one_minus_beta2;
  // Per thread: column sums of G^2 (bm), of G^2 / R_i (bm), and sum X^2 (1); summed in double.
  const int64_t threads = at::get_num_threads(), stride = 2 * bm + 1;
  std::vector<double> partial(threads * stride, 0.0);
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / m);

  at::parallel_for(0, total_rows, grain, [&](int64_t lo, int64_t hi) {
    double* part = partial.data() + at::get_thread_num() * stride;
    // Column sums run in T over up to FLUSH_ROWS rows of one matrix (vector-wide, no conversions), then go into
    // the thread's double sums.
    std::vector<T> block(2 * m, T(0));
    T* col = block.data();
    T* weighted = col + m;
    auto flush = [&](int64_t b) {
      double* dst = part + b * m;
      for (int64_t j = 0; j < m; ++j) {
        dst[j] += col[j];
        dst[bm + j] += weighted[j];
      }
      std::fill(block.begin(), block.end(), T(0));
    };
    double x_sq = 0.0;
    for (int64_t i = lo; i < hi; ++i) {
      const T* gi = g + i * m;
      const T* xi = x + i * m;
      T row_sq = 0, row_x_sq = 0;
#pragma omp simd reduction(+ : row_sq, row_x_sq)
      for (int64_t j = 0; j < m; ++j) {
        row_sq += gi[j] * gi[j];
        row_x_sq += xi[j] * xi[j];
      }
      x_sq += row_x_sq;
      rows[i] = T(rows[i] + w * ((double(row_sq) / m + k.eps1) - rows[i]));
      const T inv_row = T(1.0 / double(rows[i]));
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) {
        const T sq = gi[j] * gi[j];
        col[j] += sq;
        weighted[j] += sq * inv_row;
      }
      if ((i + 1 - lo) % FLUSH_ROWS == 0 || i + 1 == hi || (i + 1) % n == 0) flush(i / n);
    }
    part[2 * bm] += x_sq;
  });

  std::vector<double> col_sum(bm, 0.0), weighted_sum(bm, 0.0);
  double x_sq = 0.0;
  for (int64_t t = 0; t < threads; ++t) {
    const double* part = partial.data() + t * stride;
    for (int64_t j = 0; j < bm; ++j) {
      col_sum[j] += part[j];
      weighted_sum[j] += part[bm + j];
    }
    x_sq += part[2 * bm];
  }
  std::vector<double> row_mean(batch, 0.0);
  std::vector<T> col_factor(bm);  // C_j^-1/2
  double sum_u_sq = 0.0;          // sum U^2 over the whole tensor
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = b * n; i < (b + 1) * n; ++i) row_mean[b] += rows[i];
    row_mean[b] /= n;
    double s = 0.0;
    for (int64_t j = b * m; j < (b + 1) * m; ++j) {
      cols[j] = T(cols[j] + w * ((col_sum[j] / n + k.eps1) - cols[j]));
      s += weighted_sum[j] / double(cols[j]);
      col_factor[j] = T(1.0 / std::sqrt(double(cols[j])));
    }
    sum_u_sq += s * row_mean[b];
  }
  const double numel = double(total_rows) * m;
  const double alpha = k.scale_parameter ? std::max(k.eps2, std::sqrt(x_sq / numel)) * k.rho : k.rho;
  const double scale =
      k.clip ? alpha / std::max(1.0, std::sqrt(sum_u_sq / numel) / k.clip_threshold) : alpha;
  const T decay = T(1.0 - alpha * k.weight_decay);
  const T keep = T(1.0 - k.beta1);

  at::parallel_for(0, total_rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T row_factor = T(std::sqrt(row_mean[i / n] / double(rows[i])) * scale);
      const T* cf = col_factor.data() + (i / n) * m;
      const T* gi = g + i * m;
      T* xi = x + i * m;
      if (!k.momentum) {
#pragma omp simd
        for (int64_t j = 0; j < m; ++j) xi[j] = xi[j] * decay - gi[j] * (row_factor * cf[j]);
      } else {
        T* mi = mom + i * m;
#pragma omp simd
        for (int64_t j = 0; j < m; ++j) {
          mi[j] += keep * (gi[j] * (row_factor * cf[j]) - mi[j]);
          xi[j] = xi[j] * decay - mi[j];
        }
      }
    }
  });
}

template <typename T>
void unfactored_tensor(T* x, const T* g, T* v, T* mom, int64_t numel, const Constants& k) {
  const T w = T(k.one_minus_beta2), eps1 = T(k.eps1);
  const int64_t threads = at::get_num_threads();
  std::vector<double> partial(2 * threads, 0.0);  // per thread: sum X^2, sum U^2
  constexpr int64_t block = 1024;                 // summed in T, then added in double
  at::parallel_for(0, numel, 1 << 14, [&](int64_t lo, int64_t hi) {
    double* part = partial.data() + 2 * at::get_thread_num();
    for (int64_t b = lo; b < hi; b += block) {
      const int64_t e = std::min(hi, b + block);
      T x_sq = 0, u_sq = 0;
#pragma omp simd reduction(+ : x_sq, u_sq)
      for (int64_t j = b; j < e; ++j) {
        const T sq = g[j] * g[j];
        const T vj = v[j] + w * ((sq + eps1) - v[j]);
        v[j] = vj;
        x_sq += x[j] * x[j];
        u_sq += sq / vj;
      }
      part[0] += x_sq;
      part[1] += u_sq;
    }
  });
  double x_sq = 0.0, u_sq = 0.0;
  for (int64_t t = 0; t < threads; ++t) {
    x_sq += partial[2 * t];
    u_sq += partial[2 * t + 1];
  }
  const double alpha = k.scale_parameter ? std::max(k.eps2, std::sqrt(x_sq / numel)) * k.rho : k.rho;
  const T scale = T(k.clip ? alpha / std::max(1.0, std::sqrt(u_sq / numel) / k.clip_threshold) : alpha);
  const T decay = T(1.0 - alpha * k.weight_decay);
  const T keep = T(1.0 - k.beta1);
  at::parallel_for(0, numel, 1 << 14, [&](int64_t lo, int64_t hi) {
    if (!k.momentum) {
#pragma omp simd
      for (int64_t j = lo; j < hi; ++j) x[j] = x[j] * decay - g[j] / std::sqrt(v[j]) * scale;
    } else {
#pragma omp simd
      for (int64_t j = lo; j < hi; ++j) {
        mom[j] += keep * (g[j] / std::sqrt(v[j]) * scale - mom[j]);
        x[j] = x[j] * decay - mom[j];
      }
    }
  });
}

void check(const at::Tensor& t, const at::Tensor& p, at::IntArrayRef shape, const char* what) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == p.scalar_type() && t.is_contiguous(), what,
              " must be a contiguous CPU tensor of the parameter's dtype");
  TORCH_CHECK(t.sizes() == shape, what, " has shape ", t.sizes(), ", expected ", shape);
}

void adafactor_factored_(at::TensorList params, at::TensorList grads, at::TensorList row_vars,
                         at::TensorList col_vars, at::TensorList exp_avgs, double rho, double one_minus_beta2,
                         bool scale_parameter, double eps1, double eps2, double clip_threshold, double weight_decay,
                         double beta1) {
  const bool momentum = !exp_avgs.empty();
  TORCH_CHECK(grads.size() == params.size() && row_vars.size() == params.size() &&
                  col_vars.size() == params.size() && (!momentum || exp_avgs.size() == params.size()),
              "adafactor_factored_: lists of different lengths");
  const Constants k{rho, one_minus_beta2, eps1, eps2, clip_threshold, weight_decay, beta1,
                    scale_parameter, clip_threshold > 0.0, momentum};
  for (size_t t = 0; t < params.size(); ++t) {
    const at::Tensor& p = params[t];
    TORCH_CHECK(p.dim() >= 2 && p.device().is_cpu() && p.is_contiguous(),
                "adafactor_factored_: parameters must be contiguous CPU tensors of rank >= 2");
    const auto sizes = p.sizes();
    const int64_t n = p.size(-2), m = p.size(-1), batch = p.numel() / std::max<int64_t>(1, n * m);
    check(grads[t], p, sizes, "grad");
    check(row_vars[t], p, sizes.slice(0, sizes.size() - 1), "row_var");
    std::vector<int64_t> col_shape(sizes.begin(), sizes.end() - 2);
    col_shape.push_back(m);
    check(col_vars[t], p, col_shape, "col_var");
    if (momentum) check(exp_avgs[t], p, sizes, "exp_avg");
    if (p.numel() == 0) continue;
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "adafactor_factored_", [&] {
      factored_tensor<scalar_t>(p.data_ptr<scalar_t>(), grads[t].data_ptr<scalar_t>(),
                                row_vars[t].data_ptr<scalar_t>(), col_vars[t].data_ptr<scalar_t>(),
                                momentum ? exp_avgs[t].data_ptr<scalar_t>() : nullptr, batch, n, m, k);
    });
  }
}

void adafactor_unfactored_(at::TensorList params, at::TensorList grads, at::TensorList variances,
                           at::TensorList exp_avgs, double rho, double one_minus_beta2, bool scale_parameter,
                           double eps1, double eps2, double clip_threshold, double weight_decay, double beta1) {
  const bool momentum = !exp_avgs.empty();
  TORCH_CHECK(grads.size() == params.size() && variances.size() == params.size() &&
                  (!momentum || exp_avgs.size() == params.size()),
              "adafactor_unfactored_: lists of different lengths");
  const Constants k{rho, one_minus_beta2, eps1, eps2, clip_threshold, weight_decay, beta1,
                    scale_parameter, clip_threshold > 0.0, momentum};
  for (size_t t = 0; t < params.size(); ++t) {
    const at::Tensor& p = params[t];
    TORCH_CHECK(p.device().is_cpu() && p.is_contiguous(),
                "adafactor_unfactored_: parameters must be contiguous CPU tensors");
    check(grads[t], p, p.sizes(), "grad");
    check(variances[t], p, p.sizes(), "variance");
    if (momentum) check(exp_avgs[t], p, p.sizes(), "exp_avg");
    if (p.numel() == 0) continue;
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "adafactor_unfactored_", [&] {
      unfactored_tensor<scalar_t>(p.data_ptr<scalar_t>(), grads[t].data_ptr<scalar_t>(),
                                  variances[t].data_ptr<scalar_t>(),
                                  momentum ? exp_avgs[t].data_ptr<scalar_t>() : nullptr, p.numel(), k);
    });
  }
}

}  // namespace

TORCH_LIBRARY(optbench, lib) {
  lib.def(
      "adafactor_factored_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] row_vars, Tensor(c!)[] col_vars, "
      "Tensor(d!)[] exp_avgs, float rho, float one_minus_beta2, bool scale_parameter, float eps1, float eps2, "
      "float clip_threshold, float weight_decay, float beta1) -> ()");
  lib.def(
      "adafactor_unfactored_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] variances, Tensor(c!)[] exp_avgs, "
      "float rho, float one_minus_beta2, bool scale_parameter, float eps1, float eps2, float clip_threshold, "
      "float weight_decay, float beta1) -> ()");
}

TORCH_LIBRARY_IMPL(optbench, CPU, lib) {
  lib.impl("adafactor_factored_", &adafactor_factored_);
  lib.impl("adafactor_unfactored_", &adafactor_unfactored_);
}
