// DWV imports "jszip" as an ES module; the page loads its classic build, which sets window.JSZip.
export default window.JSZip;
