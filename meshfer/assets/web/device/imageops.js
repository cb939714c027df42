// The OpenCV operations meshfer's Python steps call (cv2.copyMakeBorder, resize, warpAffine, cvtColor, GaussianBlur),
// re-done in JavaScript for device mode, on 8-bit images {width, height, channels, data: Uint8ClampedArray}.
// Where OpenCV 5 computes in fixed point (cubic resize, cvtColor on 8-bit images) this does the same sums, and where
// it computes in floating point (warpAffine) the same products, so the results agree to the gray level; GaussianBlur
// and INTER_AREA are computed in floating point (off by at most one level). tests/test_device_parity.py compares them
// with cv2 on a fixture photo.

export function image(width, height, channels, data) {
  return { width, height, channels, data: data || new Uint8ClampedArray(width * height * channels) };
}

/** RGBA ImageData (what a canvas gives) -> an RGB image. */
export function fromImageData(imageData) {
  const { width, height, data } = imageData;
  const out = image(width, height, 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    out.data[j] = data[i];
    out.data[j + 1] = data[i + 1];
    out.data[j + 2] = data[i + 2];
  }
  return out;
}

/** An RGB image -> RGBA ImageData, for MediaPipe. */
export function toImageData(rgb) {
  const out = new ImageData(rgb.width, rgb.height);
  for (let i = 0, j = 0; j < rgb.data.length; i += 4, j += 3) {
    out.data[i] = rgb.data[j];
    out.data[i + 1] = rgb.data[j + 1];
    out.data[i + 2] = rgb.data[j + 2];
    out.data[i + 3] = 255;
  }
  return out;
}

/** Python's round(): halves to the even neighbour (numpy and the built-in agree). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// OpenCV's border modes: the source index a position outside [0, n) reads.
const BORDERS = {
  replicate: (i, n) => Math.min(n - 1, Math.max(0, i)),
  reflect: (i, n) => { // BORDER_REFLECT_101: gfedcb|abcdefgh|gfedcba
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
  },
};

/** cv2.copyMakeBorder with the same border on all four sides; mode constant (black) | replicate | reflect. */
export function copyMakeBorder(src, pad, mode) {
  const { width: w, height: h, channels: c } = src;
  const out = image(w + 2 * pad, h + 2 * pad, c);
  const index = BORDERS[mode];
  for (let y = 0; y < out.height; y++) {
    let sy = y - pad;
    if (sy < 0 || sy >= h) {
      if (!index) continue; // constant: stays 0
      sy = index(sy, h);
    }
    for (let x = 0; x < out.width; x++) {
      let sx = x - pad;
      if (sx < 0 || sx >= w) {
        if (!index) continue;
        sx = index(sx, w);
      }
      const s = (sy * w + sx) * c;
      const d = (y * out.width + x) * c;
      for (let k = 0; k < c; k++) out.data[d + k] = src.data[s + k];
    }
  }
  return out;
}

const RESIZE_BITS = 11; // INTER_RESIZE_COEF_BITS
const RESIZE_SCALE = 1 << RESIZE_BITS;

function cubicWeights(f) { // OpenCV's interpolateCubic, A = -0.75
  const A = -0.75;
  const w0 = ((A * (f + 1) - 5 * A) * (f + 1) + 8 * A) * (f + 1) - 4 * A;
  const w1 = ((A + 2) * f - (A + 3)) * f * f + 1;
  const w2 = ((A + 2) * (1 - f) - (A + 3)) * (1 - f) * (1 - f) + 1;
  return [w0, w1, w2, 1 - w0 - w1 - w2];
}

// Per destination index: the first of the four source indices and the four fixed-point weights.
function cubicTaps(dst, src) {
  const scale = src / dst;
  const start = new Int32Array(dst);
  const weights = new Int32Array(dst * 4);
  for (let d = 0; d < dst; d++) {
    const f = (d + 0.5) * scale - 0.5;
    const s = Math.floor(f);
    start[d] = s - 1;
    cubicWeights(f - s).forEach((w, k) => { weights[4 * d + k] = Math.round(w * RESIZE_SCALE); });
  }
  return { start, weights };
}

/** cv2.resize(..., interpolation=cv2.INTER_CUBIC) of an 8-bit image, in OpenCV's fixed point. */
export function resizeCubic(src, width, height) {
  const { width: w, height: h, channels: c } = src;
  const xs = cubicTaps(width, w);
  const ys = cubicTaps(height, h);
  const clampX = (i) => Math.min(w - 1, Math.max(0, i));
  const rows = new Int32Array(h * width * c); // horizontal pass of every source row
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let t = 0; t < 4; t++) sum += src.data[(y * w + clampX(xs.start[x] + t)) * c + k] * xs.weights[4 * x + t];
        rows[(y * width + x) * c + k] = sum;
      }
    }
  }
  const out = image(width, height, c);
  const half = 1 << (2 * RESIZE_BITS - 1);
  const line = width * c;
  for (let y = 0; y < height; y++) {
    const taps = [0, 1, 2, 3].map((t) => Math.min(h - 1, Math.max(0, ys.start[y] + t)) * line);
    for (let i = 0; i < line; i++) {
      let sum = 0;
      for (let t = 0; t < 4; t++) sum += rows[taps[t] + i] * ys.weights[4 * y + t];
      out.data[y * line + i] = Math.floor((sum + half) / (1 << (2 * RESIZE_BITS))); // clamped by the array
    }
  }
  return out;
}

/** cv2.resize(..., interpolation=cv2.INTER_AREA) for shrinking: each output pixel the area-weighted mean of the
 * source pixels it covers (floating point). */
export function resizeArea(src, width, height) {
  const { width: w, height: h, channels: c } = src;
  const spans = (dst, n) => Array.from({ length: dst }, (_, d) => {
    const a = (d * n) / dst;
    const b = ((d + 1) * n) / dst;
    const parts = [];
    for (let s = Math.floor(a); s < Math.ceil(b) && s < n; s++) {
      const cover = Math.min(b, s + 1) - Math.max(a, s);
      if (cover > 1e-9) parts.push([s, cover / (b - a)]);
    }
    return parts;
  });
  const xs = spans(width, w);
  const ys = spans(height, h);
  const out = image(width, height, c);
  const acc = new Float64Array(c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      acc.fill(0);
      for (const [sy, wy] of ys[y]) {
        for (const [sx, wx] of xs[x]) {
          const s = (sy * w + sx) * c;
          for (let k = 0; k < c; k++) acc[k] += src.data[s + k] * wy * wx;
        }
      }
      for (let k = 0; k < c; k++) out.data[(y * width + x) * c + k] = Math.round(acc[k]);
    }
  }
  return out;
}

function invertAffine(m) { // cv2.invertAffineTransform
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  const inv = det ? 1 / det : 0;
  const A = e * inv;
  const B = -b * inv;
  const D = -d * inv;
  const E = a * inv;
  return [A, B, -A * c - B * f, D, E, -D * c - E * f];
}

/** cv2.warpAffine(src, M, (width, height), flags=INTER_LINEAR, borderMode=BORDER_REPLICATE): M (2x3, row-major)
 * maps source to destination; the source is sampled bilinearly in floating point, as OpenCV 5 does. */
export function warpAffine(src, m, width, height) {
  const [a, b, c, d, e, f] = invertAffine(m);
  const { width: w, height: h, channels: ch } = src;
  const out = image(width, height, ch);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = a * x + b * y + c;
      const sy = d * x + e * y + f;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const weights = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy];
      const xa = Math.min(w - 1, Math.max(0, x0));
      const xb = Math.min(w - 1, Math.max(0, x0 + 1));
      const ya = Math.min(h - 1, Math.max(0, y0));
      const yb = Math.min(h - 1, Math.max(0, y0 + 1));
      const taps = [(ya * w + xa) * ch, (ya * w + xb) * ch, (yb * w + xa) * ch, (yb * w + xb) * ch];
      for (let k = 0; k < ch; k++) {
        let sum = 0;
        for (let t = 0; t < 4; t++) sum += src.data[taps[t] + k] * weights[t];
        out.data[(y * width + x) * ch + k] = roundHalfEven(sum);
      }
    }
  }
  return out;
}

/** cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) on 8 bits (OpenCV's 15-bit fixed-point weights). */
export function rgbToGray(rgb) {
  if (rgb.channels === 1) return rgb;
  const out = image(rgb.width, rgb.height, 1);
  for (let i = 0, j = 0; i < out.data.length; i++, j += 3) {
    out.data[i] = (rgb.data[j] * 9798 + rgb.data[j + 1] * 19235 + rgb.data[j + 2] * 3735 + (1 << 14)) >> 15;
  }
  return out;
}

/** cv2.GaussianBlur(img, (0, 0), sigma) on 8 bits: OpenCV's kernel size for 8-bit images, BORDER_REFLECT_101,
 * computed in floating point. */
export function gaussianBlur(src, sigma) {
  const size = (Math.round(sigma * 3 * 2 + 1)) | 1;
  const half = (size - 1) / 2;
  let kernel = Array.from({ length: size }, (_, i) => Math.exp(-((i - half) ** 2) / (2 * sigma * sigma)));
  const total = kernel.reduce((s, v) => s + v, 0);
  kernel = kernel.map((v) => v / total);
  const { width: w, height: h, channels: c } = src;
  const reflect = BORDERS.reflect;
  const tmp = new Float64Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let t = 0; t < size; t++) sum += src.data[(y * w + reflect(x + t - half, w)) * c + k] * kernel[t];
        tmp[(y * w + x) * c + k] = sum;
      }
    }
  }
  const out = image(w, h, c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let t = 0; t < size; t++) sum += tmp[(reflect(y + t - half, h) * w + x) * c + k] * kernel[t];
        out.data[(y * w + x) * c + k] = Math.round(sum);
      }
    }
  }
  return out;
}
