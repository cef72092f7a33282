// DWV imports "konva" as an ES module; the page loads its classic build, which sets window.Konva.
export default window.Konva;
