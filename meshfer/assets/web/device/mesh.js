// meshfer/mesh.py's landmark index tables, as the page receives them with the models index (device/models/index.json,
// written by meshfer.device_site from mesh.py itself: one place for every landmark number). The Recognizer fills this
// object before any feature is computed.
export const mesh = {};

export function useTables(tables) {
  if (!tables || !tables.BLENDSHAPE_NAMES) throw new Error("the models index has no mesh tables (an older meshfer?)");
  Object.assign(mesh, tables);
}
