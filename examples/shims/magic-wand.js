// DWV imports "magic-wand" as an ES module; the page loads its classic build, which sets window.MagicWand.
export default window.MagicWand;
