// Device mode for the page (app.js imports this module only in device mode): the models index, pictures decoded in
// the browser, and the analysis by the in-browser Recognizer. Nothing here sends an image anywhere.
import { MODELS_INDEX, Recognizer, siteUrls } from "./recognizer.js";
import { fetchJson } from "./runtime.js";

const pageUrl = document.baseURI;
let base = null; // the first recognizer made (the default approach); variants share its landmarker
const variants = new Map(); // approach -> Promise<Recognizer>

/** The models index in the shape of GET /v1/models (what the page lists). */
export async function models() {
  return fetchJson(new URL(MODELS_INDEX, siteUrls(pageUrl).models));
}

/** The in-browser Recognizer of an approach, made once (the page asks for it as soon as it knows the approach, so the
 * first picture does not wait for the runtimes; benches and tests reach it through this too). */
export function recognizer(approach) {
  if (!base) base = Recognizer.create(pageUrl, { approach });
  if (!variants.has(approach)) variants.set(approach, base.then((first) => first.variant(approach)));
  return variants.get(approach);
}

/** A picture's pixels, decoded by the browser (EXIF orientation applied, as Python's reader does). */
export async function decode(blob, maxPixels) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (_) {
    throw new Error("not an image the browser can decode");
  }
  if (maxPixels && bitmap.width * bitmap.height > maxPixels) {
    bitmap.close();
    throw new Error(`${bitmap.width}x${bitmap.height} is more than ${maxPixels / 1e6} megapixels`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

/** One picture's pixels (ImageData) -> {width, height, faces, ms}, as an answer of POST /v1/predict. */
export async function analyse(imageData, approach) {
  return (await recognizer(approach)).analyse(imageData);
}
