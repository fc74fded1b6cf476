from imagechat.cli import main

main()
