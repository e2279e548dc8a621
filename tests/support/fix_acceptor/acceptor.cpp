// A scripted FIX 4.4 counterparty on the real QuickFIX engine: QuickFIX runs the session layer
// (logon, sequence numbers, resends, heartbeats), the Broker (broker.cpp) plays a broker, and
// the CONTROL channel (control.cpp) lets tests steer it. See README.md.
//
//   fix_acceptor CONFIG --control-port PORT [--cash X] [--lot X] [--tick X] [--account NAME]
//                [--currency CCY] [--username USER --password PASS]
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "broker.h"
#include "control.h"
#include "quickfix/Application.h"
#include "quickfix/DataDictionaryProvider.h"
#include "quickfix/FileLog.h"
#include "quickfix/FileStore.h"
#include "quickfix/Session.h"
#include "quickfix/SessionSettings.h"
#include "quickfix/ThreadedSocketAcceptor.h"

namespace
{
volatile std::sig_atomic_t g_signalled = 0;
std::mutex g_logMutex;

void onSignal( int ) { g_signalled = 1; }

// Hands the broker the application messages QuickFIX has already checked at session level.
class BrokerApplication : public FIX::Application
{
public:
  BrokerApplication( Broker& broker, const std::string& username, const std::string& password )
    : m_broker( broker ), m_username( username ), m_password( password ) {}

  void onCreate( const FIX::SessionID& ) {}
  void onLogon( const FIX::SessionID& id ) { logEvent( "logon " + id.toString() ); }
  void onLogout( const FIX::SessionID& id )
  {
    logEvent( "logout " + id.toString() );
    m_broker.onLogout( id );
  }
  void toAdmin( FIX::Message&, const FIX::SessionID& ) {}
  void toApp( FIX::Message&, const FIX::SessionID& ) throw( FIX::DoNotSend ) {}

  void fromAdmin( const FIX::Message& message, const FIX::SessionID& )
  throw( FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon )
  {
    if ( message.getHeader().getField( 35 ) != "A" || m_username.empty() ) return;
    std::string user = message.isSetField( 553 ) ? message.getField( 553 ) : "";
    std::string pass = message.isSetField( 554 ) ? message.getField( 554 ) : "";
    if ( user != m_username || pass != m_password )
      throw FIX::RejectLogon( "bad username or password" );
  }

  void fromApp( const FIX::Message& message, const FIX::SessionID& id )
  throw( FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
         FIX::UnsupportedMessageType )
  {
    const std::string& type = message.getHeader().getField( 35 );
    logEvent( "from " + id.getTargetCompID().getValue() + ": 35=" + type );
    if ( type == "D" ) m_broker.onNewOrderSingle( message, id );
    else if ( type == "F" ) m_broker.onCancelRequest( message, id );
    else if ( type == "G" ) m_broker.onReplaceRequest( message, id );
    else if ( type == "H" ) m_broker.onStatusRequest( message, id );
    else if ( type == "V" ) m_broker.onMarketDataRequest( message, id );
    else if ( type == "AN" ) m_broker.onPositionsRequest( message, id );
    else if ( type == "BB" ) m_broker.onCollateralInquiry( message, id );
    else if ( type == "x" ) m_broker.onSecurityListRequest( message, id );
    else throw FIX::UnsupportedMessageType( type );
  }

private:
  Broker& m_broker;
  std::string m_username, m_password;
};

// Drains the outbox into the QuickFIX sessions, in order.
void sendLoop( Outbox& outbox )
{
  Outgoing item;
  while ( outbox.pop( item ) )
  {
    try
    {
      FIX::Session::sendToTarget( item.message, item.session );
    }
    catch ( const std::exception& e )
    {
      logEvent( std::string( "send failed: " ) + e.what() );
    }
    outbox.markSent();
  }
}

// QuickFIX without a data dictionary rejects every message in which a tag repeats (Reject
// 373=13), that is every repeating group with two entries. This dictionary only tells the
// parser where the inbound groups are; having no version, it validates nothing else.
FIX::DataDictionaryProvider inboundGroups()
{
  struct GroupSpec
  {
    int countTag, delimiter;
    std::vector<int> members;
  };
  const GroupSpec entryTypes = { 267, 269, { 269 } };
  const GroupSpec relatedSym = { 146, 55, { 55, 65, 48, 22, 167, 200, 207, 460, 461, 15 } };
  const GroupSpec parties = { 453, 448, { 448, 447, 452 } };
  const char* withParties[] = { "D", "F", "G", "H", "V", "AN", "BB", "x" };

  ptr::shared_ptr<FIX::DataDictionary> dictionary( new FIX::DataDictionary() );
  std::vector<std::pair<std::string, GroupSpec> > groups;
  groups.push_back( std::make_pair( std::string( "V" ), entryTypes ) );
  groups.push_back( std::make_pair( std::string( "V" ), relatedSym ) );
  for ( size_t i = 0; i < sizeof( withParties ) / sizeof( withParties[ 0 ] ); ++i )
    groups.push_back( std::make_pair( std::string( withParties[ i ] ), parties ) );
  for ( size_t i = 0; i < groups.size(); ++i )
  {
    const GroupSpec& spec = groups[ i ].second;
    FIX::DataDictionary members;
    for ( size_t k = 0; k < spec.members.size(); ++k ) members.addField( spec.members[ k ] );
    dictionary->addGroup( groups[ i ].first, spec.countTag, spec.delimiter, members );
  }
  FIX::DataDictionaryProvider provider;
  provider.addTransportDataDictionary( FIX::BeginString( "FIX.4.4" ), dictionary );
  return provider;
}

int usage( const char* program )
{
  std::cerr << "usage: " << program
            << " CONFIG --control-port PORT [--cash X] [--lot X] [--tick X] [--account NAME]"
               " [--currency CCY] [--username USER --password PASS]" << std::endl;
  return 2;
}

bool number( const char* text, double& out )
{
  char* end = 0;
  out = std::strtod( text, &end );
  return *text != '\0' && *end == '\0' && out >= 0;
}

bool positiveNumber( const char* text, double& out ) { return number( text, out ) && out > 0; }
}  // namespace

void logEvent( const std::string& text )
{
  std::lock_guard<std::mutex> lock( g_logMutex );
  std::cerr << utcNowText() << " " << text << std::endl;
}

int main( int argc, char** argv )
{
  if ( argc < 2 ) return usage( argv[ 0 ] );
  std::string configPath = argv[ 1 ];
  BrokerSettings settings;
  int controlPort = 0;
  std::string username, password;
  for ( int i = 2; i < argc; i += 2 )
  {
    std::string flag = argv[ i ];
    if ( i + 1 >= argc ) return usage( argv[ 0 ] );
    const char* value = argv[ i + 1 ];
    bool ok = true;
    if ( flag == "--control-port" ) controlPort = std::atoi( value );
    else if ( flag == "--cash" ) ok = number( value, settings.startingCash );
    else if ( flag == "--lot" ) ok = positiveNumber( value, settings.defaultLot );
    else if ( flag == "--tick" ) ok = positiveNumber( value, settings.defaultTick );
    else if ( flag == "--account" ) settings.account = value;
    else if ( flag == "--currency" ) settings.currency = value;
    else if ( flag == "--username" ) username = value;
    else if ( flag == "--password" ) password = value;
    else ok = false;
    if ( !ok ) return usage( argv[ 0 ] );
  }
  if ( controlPort <= 0 || controlPort > 65535 ) return usage( argv[ 0 ] );

  std::signal( SIGPIPE, SIG_IGN );
  struct sigaction action;
  std::memset( &action, 0, sizeof( action ) );
  action.sa_handler = onSignal;
  sigaction( SIGTERM, &action, 0 );
  sigaction( SIGINT, &action, 0 );

  std::atomic<bool> quitRequested( false );
  try
  {
    FIX::SessionSettings sessionSettings( configPath );
    Outbox outbox;
    Broker broker( outbox, settings );
    BrokerApplication application( broker, username, password );
    FIX::FileStoreFactory storeFactory( sessionSettings );
    FIX::FileLogFactory logFactory( sessionSettings );
    FIX::ThreadedSocketAcceptor acceptor( application, storeFactory, sessionSettings, logFactory );
    FIX::DataDictionaryProvider groups = inboundGroups();
    for ( std::set<FIX::SessionID>::const_iterator i = acceptor.getSessions().begin();
          i != acceptor.getSessions().end(); ++i )
      FIX::Session::lookupSession( *i )->setDataDictionaryProvider( groups );
    acceptor.start();
    ControlServer control( controlPort, broker, outbox, acceptor, quitRequested );
    try
    {
      control.start();
    }
    catch ( const std::exception& e )
    {
      logEvent( std::string( "fatal: " ) + e.what() );
      acceptor.stop( true );
      _exit( 1 );
    }
    // Started last: nothing below throws, so no joinable thread is ever unwound.
    std::thread sender( sendLoop, std::ref( outbox ) );
    logEvent( "ready" );
    while ( !g_signalled && !quitRequested )
    {
      usleep( 50 * 1000 );
      broker.expireOrders( epochNow() );
    }
    // "quit" logs the sessions out and waits for the peers; a signal stops at once.
    logEvent( quitRequested ? "quit: logging out" : "signal: stopping" );
    outbox.waitDrained( 2000 );
    acceptor.stop( !quitRequested );
    outbox.close();
    sender.join();
    logEvent( "stopped" );
    // Control connections may still be open in detached threads: leave without unwinding.
    std::cerr.flush();
    _exit( 0 );
  }
  catch ( const std::exception& e )
  {
    logEvent( std::string( "fatal: " ) + e.what() );
    std::cerr.flush();
    _exit( 1 );
  }
}
